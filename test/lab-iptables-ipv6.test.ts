// The lab's behaviour over IPv6: a dual-stack lab with kube-proxy's two iptables proxiers on the
// nodes, every probe to the Services' IPv6 frontends (ip6tables), the same assertions as over IPv4.
import { describeLabBehaviour } from "./helpers/lab-behaviour.js";

describeLabBehaviour("iptables", "t6i", { family: "IPv6" });
