// The same lab and assertions with kube-proxy's nftables ruleset on the nodes (parity, like iptables).
import { describeLabBehaviour } from "./helpers/lab-behaviour.js";

describeLabBehaviour("nftables", "tn");
