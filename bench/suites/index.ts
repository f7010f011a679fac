// Every benchmark suite, in the order they run.
import type { Suite } from "../types.js";
import { controlPlane } from "./control-plane.js";
import { datapathEmulated } from "./datapath-emulated.js";
import { datapathKernel } from "./datapath-kernel.js";
import { ffiSuite } from "./ffi.js";
import { memorySuite } from "./memory.js";
import { netfilterReal } from "./netfilter-real.js";
import { throughput } from "./throughput.js";

export const SUITES: Suite[] = [
  datapathEmulated,
  datapathKernel,
  throughput,
  netfilterReal,
  controlPlane,
  ffiSuite,
  memorySuite,
];
