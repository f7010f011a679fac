// The ICMP port unreachable that maplb's BPF programs send back for a packet to a service without
// backends (native/datapath/icmp.h), built by the host library from the same code: tests compare
// the kernel's reply with it byte for byte.
import { MaplbError } from "../errors.js";
import { native } from "./binding.js";

/** Ethernet + IPv4 + ICMP header + the quoted IPv4 header and 20 bytes of L4 (zero-padded). */
export const ICMP_REPLY_LEN = 82;

export function icmpUnreachableFor(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(ICMP_REPLY_LEN);
  const err = native().icmpUnreachable(frame, out);
  if (err < 0)
    throw new MaplbError("E_USAGE", `no ICMP reply for a ${frame.length}-byte frame (at least 42 needed)`);
  return out;
}
