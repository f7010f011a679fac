// The programming target alone (issue 14, target 6): control-plane's --full cell of maplb, 100k
// services × 10 endpoints from nothing into the kernel datapath's BPF maps (compile and map writes
// apart), then one endpoint change at that size, checked against ≤ 3 s and ≤ 1 ms. The whole
// control-plane suite in --full also loads kube-proxy's rules at 30k, which takes many minutes.
// Run: node dist/bench/programming.js [--emulated] (after a build; the kernel datapath needs root).
import { controlPlane } from "./suites/control-plane.js";
import { formatTable } from "./table.js";

const datapath = process.argv.includes("--emulated") ? "emulated" : "kernel";
const cell = controlPlane.cells("full").at(-1)!;
process.stderr.write(`control-plane ${cell.label}, ${datapath} datapath…\n`);
const rows = await controlPlane.run(cell, { mode: "quick", datapath, tick() {} });
console.log(
  formatTable(
    ["traffic", "median ms", "p25", "p75", "n", "params"],
    rows.map((r) => [
      r.traffic,
      r.value.toFixed(3),
      r.spread?.p25.toFixed(3) ?? "",
      r.spread?.p75.toFixed(3) ?? "",
      String(r.samples),
      Object.entries(r.params ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(" "),
    ]),
  ),
);
for (const t of controlPlane.targets!(rows))
  console.log(`${t.met ? "met   " : "missed"}  ${t.target}: ${t.measured}`);
