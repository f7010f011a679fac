// The namespace lab with maplb attached by XDP instead of TC: the same behaviour, both directions
// (requests DNATed, replies reverse-NATed) handled in XDP on veth with the kernel routing between.
import { describeLabBehaviour } from "./helpers/lab-behaviour.js";

describeLabBehaviour("maplb", "tx", { attach: "xdp" });
