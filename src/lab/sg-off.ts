// Turns scatter-gather off on an interface (ethtool -K IF sg off, without needing ethtool), run by the
// lab inside each pod and external namespace as `node sg-off.js eth0`.
//
// Why: with SG on, TCP puts payload into page fragments, and a TC program's direct packet access
// (data..data_end) covers only the linear headers. The datapath's TC entry passes data_end - data as
// the frame length, so every TCP segment with payload fails its total-length check (BAD_TOTAL_LEN).
// With SG off, the kernel copies payload into the linear area and the whole packet is in view.
// Remove this once the TC entry passes skb->len (and pulls headers with bpf_skb_pull_data if needed).
import koffi from "koffi";

const SIOCETHTOOL = 0x8946;
const ETHTOOL_SSG = 0x19;
const AF_INET = 2;
const SOCK_DGRAM = 2;

export function scatterGatherOff(ifname: string): void {
  const libc = koffi.load("libc.so.6");
  const value = koffi.struct("maplb_ethtool_value", { cmd: "uint32_t", data: "uint32_t" });
  koffi.struct("maplb_ifreq_ethtool", {
    name: koffi.array("char", 16, "String"),
    data: koffi.pointer(value),
    pad: koffi.array("uint8_t", 16),
  });
  const socket = libc.func("int socket(int, int, int)");
  const ioctl = libc.func("int ioctl(int, unsigned long, maplb_ifreq_ethtool *)");
  const close = libc.func("int close(int)");
  const fd = socket(AF_INET, SOCK_DGRAM, 0) as number;
  try {
    const err = ioctl(fd, SIOCETHTOOL, {
      name: ifname,
      data: { cmd: ETHTOOL_SSG, data: 0 },
      pad: new Array<number>(16).fill(0),
    }) as number;
    if (err !== 0) throw new Error(`SIOCETHTOOL ETHTOOL_SSG on ${ifname} failed`);
  } finally {
    close(fd);
  }
}

if (process.argv[1]?.endsWith("sg-off.js")) {
  try {
    for (const ifname of process.argv.slice(2)) scatterGatherOff(ifname);
  } catch (err) {
    process.stderr.write(`sg-off: ${String(err)}\n`);
    process.exit(1);
  }
}
