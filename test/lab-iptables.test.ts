// The same lab and the same assertions with kube-proxy's iptables rules on the nodes instead of maplb:
// the parity check (differences by design are spelled out in helpers/lab-behaviour.ts).
import { describeLabBehaviour } from "./helpers/lab-behaviour.js";

describeLabBehaviour("iptables", "ti");
