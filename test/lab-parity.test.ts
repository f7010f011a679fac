// Parity on seed-001 over IPv4: maplb's datapath and kube-proxy's iptables rules, the same probes to
// both labs (helpers/lab-parity.ts).
import { describeParity } from "./helpers/lab-parity.js";

describeParity("IPv4", "p");
