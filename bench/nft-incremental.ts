// kube-proxy's nftables mode syncs only what changed: for one service port, it (re)writes that
// port's own chains and deletes the endpoint chains it no longer uses, in one `nft -f` transaction.
// This builds that transaction from the two versions of the port.
import { buildNftRules, NFT_TABLE } from "../src/kubeproxy/nft.js";
import type { NodeConfig, ServicePort } from "../src/model/types.js";

export function nftServicePortUpdate(prev: ServicePort, next: ServicePort, node: NodeConfig): string {
  const fixed = new Set(buildNftRules({ ports: [] }, node).chains.map((c) => c.name));
  const before = buildNftRules({ ports: [prev] }, node);
  const after = buildNftRules({ ports: [next] }, node);
  const own = (chains: { name: string }[]) => chains.map((c) => c.name).filter((c) => !fixed.has(c));
  const keep = new Set(own(after.chains));
  const lines: string[] = [];
  for (const chain of keep)
    lines.push(`add chain ip ${NFT_TABLE} ${chain}`, `flush chain ip ${NFT_TABLE} ${chain}`);
  for (const r of after.rules)
    if (keep.has(r.chain))
      lines.push(
        `add rule ip ${NFT_TABLE} ${r.chain} ${r.rule}${r.comment ? ` comment "${r.comment}"` : ""}`,
      );
  for (const chain of own(before.chains))
    if (!keep.has(chain)) lines.push(`delete chain ip ${NFT_TABLE} ${chain}`);
  return lines.join("\n") + "\n";
}
