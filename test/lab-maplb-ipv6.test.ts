// The lab's behaviour over IPv6 with maplb's BPF datapath (TC) on the nodes: a dual-stack lab whose
// maps hold both families (lb6 beside lb4), every probe to the Services' IPv6 frontends.
import { describeLabBehaviour } from "./helpers/lab-behaviour.js";

describeLabBehaviour("maplb", "t6m", {
  family: "IPv6",
  todo: {
    "a service with no endpoints":
      "maplb's datapath drops IPv6 to a service without endpoints without an ICMPv6 unreachable yet: the client times out",
  },
});
