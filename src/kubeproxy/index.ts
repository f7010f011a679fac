// kube-proxy's rules for a ServiceModel: the O(n) reference maplb is compared with.
//   buildIptablesRules → IptablesRuleset (structured filter and nat tables) → renderIptables (3 forms)
//   natTracer / traceNat → the chain path and cost of one new connection through the nat table
//   buildNftRules → NftRuleset → renderNft (one `nft -f` transaction) / renderNftList (`nft list` form)
//   KUBE_PROXY_RELEASE: the release all of these reproduce
export {
  buildIptablesRules,
  builtinJumpRules,
  probability,
  type BuiltinJumpRule,
  type IptablesRule,
  type IptablesRuleset,
  type IptablesTable,
  type IptablesTableName,
} from "./iptables-rules.js";
export { IPTABLES_FORMATS, renderIptables, type IptablesFormat } from "./iptables-render.js";
export { natTracer, traceNat, type NatPacket, type NatTrace, type NatTraceOptions } from "./nat-trace.js";
export {
  buildNftRules,
  NFT_FORMATS,
  renderNft,
  renderNftAs,
  type NftClusterConfig,
  type NftFormat,
  type NftRuleset,
} from "./nft.js";
export { renderNftList } from "./nft-list.js";
export { KUBE_PROXY_RELEASE } from "./release.js";
export { parseRuleArgs, type ParsedRule } from "./rule-parse.js";
