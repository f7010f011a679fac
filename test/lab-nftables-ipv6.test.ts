// The lab's behaviour over IPv6 with kube-proxy's nftables rulesets (the ip6 kube-proxy table beside
// the ip one), the same assertions as over IPv4.
import { describeLabBehaviour } from "./helpers/lab-behaviour.js";

describeLabBehaviour("nftables", "t6n", { family: "IPv6" });
