// The lab's bulk payload: a deterministic pseudo-random byte stream (AES-128-CTR's keystream under a
// fixed key), so the server can send N bytes and the client can check every one of them without either
// holding the whole body. A pattern that repeats would let a misplaced segment pass unnoticed.
import { createCipheriv, createHash, type Cipher } from "node:crypto";

/** Upper bound on one transfer, so a typo cannot keep a lab busy for hours. */
export const BULK_MAX_BYTES = 1 << 30;
/** The response header of GET /bulk that carries the pod's answer (the body is the stream). */
export const BULK_ANSWER_HEADER = "x-maplb-answer";
const KEY = Buffer.from("maplb-lab-bulk-k"); // 16 bytes: AES-128
const IV = Buffer.alloc(16);
const CHUNK = 64 * 1024;

/** The stream from its first byte; next(n) returns its following n bytes. */
export class BulkStream {
  private readonly cipher: Cipher = createCipheriv("aes-128-ctr", KEY, IV);
  private readonly zeros = Buffer.alloc(CHUNK);

  next(n: number): Buffer {
    if (n <= CHUNK) return this.cipher.update(this.zeros.subarray(0, n));
    return this.cipher.update(Buffer.alloc(n));
  }
}

/** Yields the first `bytes` bytes of the stream in chunks. */
export function* bulkChunks(bytes: number): Generator<Buffer> {
  const s = new BulkStream();
  for (let left = bytes; left > 0; left -= CHUNK) yield s.next(Math.min(CHUNK, left));
}

/** SHA-256 (hex) of the first `bytes` bytes of the stream. */
export function bulkDigest(bytes: number): string {
  const h = createHash("sha256");
  for (const c of bulkChunks(bytes)) h.update(c);
  return h.digest("hex");
}

/** Checks a received body chunk by chunk against the stream: where it first differs, and how much came. */
export class BulkChecker {
  private readonly expected = new BulkStream();
  received = 0;
  firstMismatch: number | null = null;

  update(chunk: Buffer): void {
    if (this.firstMismatch === null) {
      const want = this.expected.next(chunk.length);
      if (!want.equals(chunk)) {
        let i = 0;
        while (want[i] === chunk[i]) i++;
        this.firstMismatch = this.received + i;
      }
    }
    this.received += chunk.length;
  }
}
