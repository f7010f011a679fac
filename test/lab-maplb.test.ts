// The namespace lab with maplb's BPF datapath attached (TC) on the nodes: real TCP and UDP traffic.
// Runs as root on a kernel with BPF; otherwise skips with the reason.
import { describeLabBehaviour } from "./helpers/lab-behaviour.js";

describeLabBehaviour("maplb", "tm");
