// The one kube-proxy release whose rules `maplb iptables` and `maplb nft` reproduce. Named in both
// commands' --help and in the README; test/golden/kubeproxy/upstream/ is taken from its unit tests.
// What places it: nftables' ClusterIP masquerade rule without `th dport` (kubernetes#131492, v1.34),
// yet still the mark-for-masquerade chain and the "a later local entry wins" duplicate-endpoint rule,
// both replaced in v1.36.0-alpha.1 (kubernetes#135800, kubernetes#135593).
export const KUBE_PROXY_RELEASE = "Kubernetes v1.35.0";
