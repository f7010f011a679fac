// Parity on seed-001 over IPv6: two dual-stack labs, maplb's lb6 maps against kube-proxy's ip6tables
// rules, the same probes to the IPv6 frontends of both (helpers/lab-parity.ts).
import { describeParity } from "./helpers/lab-parity.js";

describeParity("IPv6", "p6", {
  "external → NodePort on the other node (gke-node-c, the first seen, is the edge)":
    "maplb's datapath has no IPv6 source NAT yet (maplb_config.snat6_addr stays ::): the backend's reply bypasses the node that translated the request",
});
