// Parity on seed-001 over IPv6: two dual-stack labs, maplb's lb6 maps against kube-proxy's ip6tables
// rules, the same probes to the IPv6 frontends of both (helpers/lab-parity.ts).
import { describeParity } from "./helpers/lab-parity.js";

describeParity("IPv6", "p6");
