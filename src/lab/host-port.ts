// `address:port` as the lab's probes and pod servers write it: an IPv6 address in brackets (RFC 3986's
// form, as curl and URLs write it), so the port is never mistaken for the address's last group.

export const hostPort = (address: string, port: number): string =>
  address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;

/** The address part of `address:port` or `[address]:port`. */
export function hostOf(hp: string): string {
  const m = /^\[([^\]]*)\]:\d+$/.exec(hp);
  return m ? m[1]! : hp.slice(0, hp.lastIndexOf(":"));
}
