// The two targets a packet test runs on: the emulated build always, the kernel's BPF program
// (BPF_PROG_TEST_RUN over ephemeral maps) as root on a BPF-capable kernel, else skipped with the reason.
import { Scope, type FrontendKey } from "../../src/compile/tables.js";
import type { Datapath } from "../../src/datapath/datapath.js";
import { openEmulated } from "../../src/datapath/emulated.js";
import { openKernel, probeKernel } from "../../src/datapath/kernel.js";
import { kernelSkip } from "./require-kernel.js";

export interface Target {
  name: "emulated" | "kernel";
  skip: string | false;
  open(): Datapath;
}

const kernelProblem = probeKernel();
/** Why a test of the kernel target skips here (a failure under MAPLB_REQUIRE_KERNEL=1), or false. */
export const KERNEL_SKIP: string | false = kernelSkip(
  kernelProblem ? `needs root for BPF_PROG_TEST_RUN (${kernelProblem})` : null,
  "the kernel target",
);
export const TARGETS: Target[] = [
  { name: "emulated", skip: false, open: () => openEmulated() },
  { name: "kernel", skip: KERNEL_SKIP, open: () => openKernel({ ephemeral: true }) },
];

/** A frontend key, external scope and TCP unless said. */
export const fe = (
  address: string,
  port: number,
  protocol: "TCP" | "UDP" = "TCP",
  scope: Scope = Scope.EXT,
): FrontendKey => ({
  address,
  port,
  protocol,
  scope,
});
