// The worker thread of maglev-ahead.ts: fills the Maglev tables it is given with backend positions
// (1..N) into one buffer, and hands the buffer over (transferred, not copied).
import { answerBeside } from "../util/beside.js";
import { maglevRows } from "./maglev.js";
import type { AheadJob } from "./maglev-ahead.js";

answerBeside((jobs: AheadJob[]) => {
  const buffer = new ArrayBuffer(4 * jobs.reduce((sum, j) => sum + j.m, 0));
  let offset = 0;
  for (const { m, names } of jobs) {
    const backends = names.map((name, i) => ({ id: i + 1, name }));
    maglevRows(backends, m, new Uint32Array(buffer, offset, m));
    offset += 4 * m;
  }
  return { value: buffer, transfer: [buffer] };
});
