// The machine description that goes with every results file: figures only mean something beside it.
import { cpus, release } from "node:os";

export interface Machine {
  kernel: string;
  cpu: string;
  cores: number;
  node: string;
}

export function describeMachine(): Machine {
  const c = cpus();
  return { kernel: release(), cpu: c[0]?.model.trim() ?? "unknown", cores: c.length, node: process.version };
}
