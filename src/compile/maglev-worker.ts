// The worker thread of maglev-ahead.ts: fills the Maglev tables it is given with backend positions
// (1..N) into one buffer, hands the buffer over (transferred, not copied), then wakes the compile.
import { type MessagePort, workerData } from "node:worker_threads";
import { maglevRows } from "./maglev.js";
import type { AheadJob } from "./maglev-ahead.js";

const { jobs, done, port } = workerData as { jobs: AheadJob[]; done: Int32Array; port: MessagePort };
try {
  const buffer = new ArrayBuffer(4 * jobs.reduce((sum, j) => sum + j.m, 0));
  let offset = 0;
  for (const { m, names } of jobs) {
    const rows = new Uint32Array(buffer, offset, m);
    maglevRows(
      names.map((name, i) => ({ id: i + 1, name })),
      m,
      rows,
    );
    offset += 4 * m;
  }
  port.postMessage({ buffer }, [buffer]);
} catch (err) {
  port.postMessage({ error: String(err) });
} finally {
  port.close();
  Atomics.store(done, 0, 1);
  Atomics.notify(done, 0);
}
