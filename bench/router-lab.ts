// The netfilter-real topology: one client namespace, one server namespace, and one router namespace
// per implementation between them. Each router carries one ruleset (kube-proxy's rules in
// iptables-legacy, in iptables-nft, kube-proxy's nftables ruleset, maplb's TC program, or nothing for
// the baseline). The client binds each connect to the link of one router (SO_BINDTODEVICE), so all
// implementations are measured interleaved with the same client, server and kernel.
//
//   client  c<k> 198.18.<k>.2/24  ──  r<k>c 198.18.<k>.1/24  [router k]  r<k>s 198.18.<16+k>.1/24  ──  s<k> 198.18.<16+k>.2/24  server
//   services 198.19.0.0/16 and pods 198.18.128.0/17 are routed through router k from link k.
import { spawn, type ChildProcess } from "node:child_process";
import { Topology } from "../src/netns/netns.js";

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
      this.topo.exec(ns, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
      this.topo.exec(ns, "ip", ["route", "add", "198.18.128.0/17", "via", `198.18.${16 + k}.2`]);
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
      this.topo.exec(this.server, "ip", ["route", "add", `198.18.${k}.0/24`, "via", `198.18.${16 + k}.1`]);
      this.paths.push(path);
    });
  }

  /** Puts these pod addresses on the server's loopback and listens on these ports (replacing earlier ones). */
  serve(tool: string, addrs: string[], ports: number[]): Promise<void> {
    for (const a of this.serverAddrs)
      this.topo.exec(this.server, "ip", ["addr", "del", `${a}/32`, "dev", "lo"]);
    for (const a of addrs) this.topo.exec(this.server, "ip", ["addr", "add", `${a}/32`, "dev", "lo"]);
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
