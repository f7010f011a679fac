// The namespace lab with maplb's socket LB on the pods' cgroups (and TC on the nodes for external
// clients): the same end-to-end behaviour, plus what only socket LB does. Root and BPF, else skips.
import { describeLabBehaviour } from "./helpers/lab-behaviour.js";

describeLabBehaviour("maplb", "ts", { socketLb: true });
