// Every benchmark suite, in the order they run.
import type { Suite } from "../types.js";
import { controlPlane } from "./control-plane.js";
import { netfilterReal } from "./netfilter-real.js";

export const SUITES: Suite[] = [netfilterReal, controlPlane];
