// Test helper: a trace of an IPv4 packet always has kube-proxy's half (both modes walked); the type
// says so, for tests that read it.
import assert from "node:assert/strict";
import type { Trace } from "../../src/datapath/trace.js";
import type { KubeProxyVerdict } from "../../src/kubeproxy/verdict.js";

export type Ipv4Trace = Trace & { iptables: KubeProxyVerdict; nftables: KubeProxyVerdict };

export function ipv4Trace(t: Trace): Ipv4Trace {
  assert.ok(t.iptables && t.nftables, "an IPv4 packet's trace walks kube-proxy's rules in both modes");
  return t as Ipv4Trace;
}
