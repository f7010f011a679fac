// Every benchmark suite, in the order they run.
import type { Suite } from "../types.js";

export const SUITES: Suite[] = [];
