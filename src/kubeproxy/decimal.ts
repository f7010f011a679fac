// Exact decimal formatting of binary floating point, as Go's "%0.10f" and C's "%.11f" print it.
// JavaScript's toFixed rounds ties away from zero; Go and glibc round the exact binary value and
// break ties to even. The difference shows for 1/2048 = 0.00048828125, which Go prints 0.0004882812.

/** The double as an exact fraction mantissa · 2^exponent. */
function exactParts(x: number): { mantissa: bigint; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biasedExponent = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  return biasedExponent === 0
    ? { mantissa: fraction, exponent: -1074 } // subnormal
    : { mantissa: fraction | (1n << 52n), exponent: biasedExponent - 1075 };
}

/** `x` with exactly `digits` decimals, rounded half to even on its exact binary value. x ≥ 0, finite. */
export function toFixedHalfEven(x: number, digits: number): string {
  if (!(x >= 0) || !Number.isFinite(x))
    throw new RangeError(`toFixedHalfEven expects a finite x ≥ 0, got ${x}`);
  const { mantissa, exponent } = exactParts(x);
  const scale = 10n ** BigInt(digits);
  let scaled: bigint;
  if (exponent >= 0) {
    scaled = (mantissa << BigInt(exponent)) * scale;
  } else {
    const denominator = 1n << BigInt(-exponent);
    const numerator = mantissa * scale;
    scaled = numerator / denominator;
    const twiceRemainder = 2n * (numerator % denominator);
    if (twiceRemainder > denominator || (twiceRemainder === denominator && scaled % 2n === 1n)) scaled += 1n;
  }
  const text = scaled.toString().padStart(digits + 1, "0");
  return digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
}
