// The native kube-proxy chain evaluator, from TypeScript: load a nat table once, then evaluate
// batches of packets in one native call each. The benchmark's O(n) baseline (`maplb trace` walks
// every table in TypeScript instead: src/kubeproxy/walk-iptables.ts).
import { native, type IptHandle } from "../datapath/binding.js";
import { decode, encodeInto, structSize } from "../datapath/codec.js";
import { nativeError } from "../datapath/errno.js";
import type { IptablesTable } from "../kubeproxy/iptables-rules.js";
import { intToIpv4, ipv4ToInt } from "../util/ip.js";
import { encodeNatTable, IptTarget, type EncodedNatTable } from "./encode.js";

export interface IptPacket {
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  protocol: "tcp" | "udp";
}

export interface IptVerdict {
  /** "dnat" with its destination, or the terminating target; "accept" when the walk fell off the end. */
  target: Lowercase<keyof typeof IptTarget>;
  to: string | null;
  rulesEvaluated: number;
  /** The rules that matched, as `CHAIN#index` with the rule's text (single-packet evaluation only). */
  path: { chain: string; index: number; args: string[] }[];
}

const TARGET_NAMES = Object.fromEntries(
  Object.entries(IptTarget).map(([k, v]) => [v, k.toLowerCase()]),
) as Record<number, IptVerdict["target"]>;
const PROTO = { tcp: 6, udp: 17 } as const;
const PATH_CAP = 256;

/** Packed packets for evalBatch: build once, evaluate many times. */
export function packPackets(pkts: readonly IptPacket[]): Uint8Array {
  const size = structSize("ipt_packet");
  const out = new Uint8Array(size * pkts.length);
  pkts.forEach((p, i) =>
    encodeInto(
      "ipt_packet",
      {
        saddr: ipv4ToInt(p.srcIp),
        daddr: ipv4ToInt(p.dstIp),
        sport: p.srcPort,
        dport: p.dstPort,
        proto: PROTO[p.protocol],
      },
      out,
      i * size,
    ),
  );
  return out;
}

export class ChainEvaluator {
  private handle: IptHandle | null;
  readonly table: EncodedNatTable;

  /** @param localAddresses the node's addresses, for `-m addrtype LOCAL` (127.0.0.0/8 always counts). */
  constructor(nat: IptablesTable, localAddresses: string[] = [], seed = 1n) {
    this.table = encodeNatTable(nat);
    const local = new Uint8Array(4 * localAddresses.length);
    const view = new DataView(local.buffer);
    localAddresses.forEach((a, i) => view.setUint32(4 * i, ipv4ToInt(a), false));
    const api = native();
    const { err, handle } = api.iptOpen(
      this.table.rules,
      this.table.ruleCount,
      this.table.chains,
      this.table.chainNames.length,
      this.table.entry,
      local,
      localAddresses.length,
      seed,
    );
    if (err < 0) throw nativeError(err, "loading the nat table into the chain evaluator");
    this.handle = handle;
  }

  /** Evaluates packed packets; returns the total rules evaluated (results are in `results`). */
  evalBatch(packed: Uint8Array, results: Uint8Array, nowSeconds = 0): number {
    const n = packed.length / structSize("ipt_packet");
    const err = native().iptEval(this.live(), packed, n, BigInt(nowSeconds), results, null, 0);
    if (err < 0) throw nativeError(err, "evaluating packets with the chain evaluator");
    return n;
  }

  /** One packet, with its path through the chains. */
  evaluate(pkt: IptPacket, nowSeconds = 0): IptVerdict {
    const result = new Uint8Array(structSize("ipt_result"));
    const path = new Uint32Array(PATH_CAP);
    const err = native().iptEval(
      this.live(),
      packPackets([pkt]),
      1,
      BigInt(nowSeconds),
      result,
      path,
      PATH_CAP,
    );
    if (err < 0) throw nativeError(err, "evaluating a packet with the chain evaluator");
    const r = decode("ipt_result", result);
    const target = TARGET_NAMES[Number(r.target)] ?? "accept";
    return {
      target,
      to: target === "dnat" ? `${intToIpv4(Number(r.to_addr))}:${Number(r.to_port)}` : null,
      rulesEvaluated: Number(r.rules_evaluated),
      path: [...path.subarray(0, Math.min(PATH_CAP, Number(r.path_len)))].map(
        (i) => this.table.ruleOrigin[i]!,
      ),
    };
  }

  close(): void {
    if (this.handle) native().iptClose(this.handle);
    this.handle = null;
  }

  private live(): IptHandle {
    if (!this.handle) throw new Error("the chain evaluator is closed");
    return this.handle;
  }
}
