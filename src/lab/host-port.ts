// `address:port` as the lab's probes and pod servers write it: an IPv6 address in brackets (Go's
// net.JoinHostPort, as curl and URLs write it), so the port is never mistaken for the address's last group.
export { hostPort } from "../kubeproxy/family.js";

/** The address part of `address:port` or `[address]:port`. */
export function hostOf(hp: string): string {
  const m = /^\[([^\]]*)\]:\d+$/.exec(hp);
  return m ? m[1]! : hp.slice(0, hp.lastIndexOf(":"));
}
