// The netfilter-real topology: one client namespace, one server namespace, and one router namespace
// per implementation between them. Each router carries one ruleset (kube-proxy's rules in
// iptables-legacy, in iptables-nft, kube-proxy's nftables ruleset, maplb's TC program, or nothing for
// the baseline). The client binds each connect to the link of one router (SO_BINDTODEVICE), so all
// implementations are measured interleaved with the same client, server and kernel.
// Every link is dual-stack, so each router forwards (and each ruleset sees) IPv4 and IPv6 alike:
//
//   client  c<k> 198.18.<k>.2/24  ──  r<k>c 198.18.<k>.1/24  [router k]  r<k>s 198.18.<16+k>.1/24  ──  s<k> 198.18.<16+k>.2/24  server
//           c<k> 2001:db8:1:<k>::2/64  r<k>c 2001:db8:1:<k>::1/64        r<k>s 2001:db8:2:<k>::1/64     s<k> 2001:db8:2:<k>::2/64
//   services 198.19.0.0/16 and pods 198.18.128.0/17, and their IPv6 ranges 2001:db8:19::/64 and
//   2001:db8:18:8000::/64 (bench/synthetic.ts), are routed through router k from link k.
import { spawn, type ChildProcess } from "node:child_process";
import { Topology } from "../src/netns/netns.js";
import { isIPv6 } from "../src/util/ip.js";
import { POD_PREFIX6, SERVICE_PREFIX6 } from "./synthetic.js";

/** The IPv6 addresses of link k's two subnets (client side 1, server side 2). */
const v6 = (side: 1 | 2, k: number, host: 1 | 2) => `2001:db8:${side}:${k}::${host}`;

export interface RouterPath {
  name: string;
  /** Router namespace. */
  ns: string;
  /** Client-side device in the client namespace. */
  clientDev: string;
  /** The router's client-facing and server-facing devices. */
  routerIn: string;
  routerOut: string;
}

export class RouterLab {
  readonly topo = new Topology("nf");
  readonly client: string;
  readonly server: string;
  readonly paths: RouterPath[] = [];
  private servers: ChildProcess[] = [];
  private serverAddrs: string[] = [];
  private serverPorts: number[] = [];
  private serverTool = "";

  constructor(pathNames: string[]) {
    this.client = this.topo.addNamespace("cli");
    this.server = this.topo.addNamespace("srv");
    pathNames.forEach((name, k) => {
      const ns = this.topo.addNamespace(`r${k}`);
      const path = { name, ns, clientDev: `c${k}`, routerIn: `r${k}c`, routerOut: `r${k}s` };
      this.topo.link(
        { ns: this.client, ifname: path.clientDev, addr: `198.18.${k}.2/24` },
        { ns, ifname: path.routerIn, addr: `198.18.${k}.1/24` },
      );
      this.topo.link(
        { ns, ifname: path.routerOut, addr: `198.18.${16 + k}.1/24` },
        { ns: this.server, ifname: `s${k}`, addr: `198.18.${16 + k}.2/24` },
      );
      this.addAddress6(this.client, path.clientDev, `${v6(1, k, 2)}/64`);
      this.addAddress6(ns, path.routerIn, `${v6(1, k, 1)}/64`);
      this.addAddress6(ns, path.routerOut, `${v6(2, k, 1)}/64`);
      this.addAddress6(this.server, `s${k}`, `${v6(2, k, 2)}/64`);
      this.topo.exec(ns, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
      this.topo.exec(ns, "sysctl", ["-qw", "net.ipv6.conf.all.forwarding=1"]);
      this.topo.exec(ns, "ip", ["route", "add", "198.18.128.0/17", "via", `198.18.${16 + k}.2`]);
      this.topo.exec(ns, "ip", ["-6", "route", "add", POD_PREFIX6, "via", v6(2, k, 2)]);
      for (const prefix of ["198.19.0.0/16", "198.18.128.0/17"])
        this.topo.exec(this.client, "ip", [
          "route",
          "add",
          prefix,
          "via",
          `198.18.${k}.1`,
          "dev",
          path.clientDev,
          "metric",
          String(10 + k),
        ]);
      for (const prefix of [SERVICE_PREFIX6, POD_PREFIX6])
        this.topo.exec(this.client, "ip", [
          "-6",
          "route",
          "add",
          prefix,
          "via",
          v6(1, k, 1),
          "dev",
          path.clientDev,
          "metric",
          String(10 + k),
        ]);
      this.topo.exec(this.server, "ip", ["route", "add", `198.18.${k}.0/24`, "via", `198.18.${16 + k}.1`]);
      this.topo.exec(this.server, "ip", ["-6", "route", "add", `2001:db8:1:${k}::/64`, "via", v6(2, k, 1)]);
      this.paths.push(path);
    });
  }

  /** An IPv6 address usable at once: no duplicate address detection (the lab's links are its own). */
  private addAddress6(ns: string, dev: string, cidr: string): void {
    this.topo.exec(ns, "ip", ["-6", "addr", "add", cidr, "dev", dev, "nodad"]);
  }

  /** Puts these pod addresses (of either family) on the server's loopback and listens on these
   * ports, on both families (replacing earlier ones). */
  serve(tool: string, addrs: string[], ports: number[]): Promise<void> {
    const host = (a: string) => `${a}/${isIPv6(a) ? 128 : 32}`;
    for (const a of this.serverAddrs)
      this.topo.exec(this.server, "ip", ["addr", "del", host(a), "dev", "lo"]);
    for (const a of addrs) this.topo.exec(this.server, "ip", ["addr", "add", host(a), "dev", "lo"]);
    this.serverAddrs = addrs;
    this.serverTool = tool;
    this.serverPorts = [...new Set(ports)];
    return this.restartServers(null);
  }

  /** Restarts the listeners, bound to one CPU (taskset) or (null) free to run anywhere. */
  async restartServers(cpu: number | null): Promise<void> {
    // The old listeners must be gone before the new ones bind the same ports.
    const exited = this.servers.map(
      (s) => new Promise((r) => (s.exitCode === null && s.signalCode === null ? s.once("exit", r) : r(0))),
    );
    this.stopServers();
    await Promise.all(exited);
    const pin = cpu === null ? [] : ["taskset", "-c", String(cpu)];
    this.servers = this.serverPorts.map((p) =>
      spawn("ip", ["netns", "exec", this.server, ...pin, this.serverTool, "serve", String(p)], {
        stdio: "ignore",
      }),
    );
    await new Promise((r) => setTimeout(r, 200)); // let the listeners bind
  }

  private stopServers(): void {
    for (const s of this.servers) s.kill("SIGKILL");
    this.servers = [];
  }

  cleanup(): void {
    this.stopServers();
    this.topo.cleanup();
  }
}
