// Pearson's chi-square test of counts against a uniform spread, for "every backend gets its share".
// The p-value is the upper regularised incomplete gamma Q(k/2, x/2) (Numerical Recipes' gammq).

function lnGamma(x: number): number {
  const c = [
    76.180091729471, -86.505320329417, 24.014098240831, -1.2317395724502, 0.0012086509738662,
    -0.000005395239384953,
  ];
  let y = x;
  const t = x + 5.5 - (x + 0.5) * Math.log(x + 5.5);
  let s = 1.00000000019001;
  for (const ci of c) s += ci / ++y;
  return -t + Math.log((2.5066282746310002 * s) / x);
}

/** Q(a, x) = 1 - P(a, x): by the series for x < a + 1, else by the continued fraction. */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - lnGamma(a));
  if (x < a + 1) {
    let sum = 1 / a;
    let del = sum;
    for (let n = 1; n < 500 && Math.abs(del) > Math.abs(sum) * 1e-15; n++) {
      del *= x / (a + n);
      sum += del;
    }
    return 1 - sum * front;
  }
  let b = x + 1 - a;
  let c = 1e300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 500; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return front * h;
}

/** The p-value of the counts under "all categories equally likely". */
export function chiSquareUniformP(counts: readonly number[]): number {
  const n = counts.reduce((a, b) => a + b, 0);
  const expected = n / counts.length;
  const x2 = counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
  return gammaQ((counts.length - 1) / 2, x2 / 2);
}
