// The one kube-proxy release whose rules `maplb iptables` and `maplb nft` reproduce. Named in both
// commands' --help and in the README; test/golden/kubeproxy/upstream-* are taken from its unit tests.
export const KUBE_PROXY_RELEASE = "Kubernetes v1.35";
