// kube-proxy's iptables rules: chain names, probabilities, the three text forms, every policy case,
// and the reference's worked example byte for byte.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readModel } from "../src/k8s/read.js";
import { endpointChain, portProtoHash, servicePortChains } from "../src/kubeproxy/chain-names.js";
import { toFixedHalfEven } from "../src/kubeproxy/decimal.js";
import { buildIptablesRules, probability, type IptablesRuleset } from "../src/kubeproxy/iptables-rules.js";
import { kernelProbability, renderIptables, saveRuleLine } from "../src/kubeproxy/iptables-render.js";
import type { NodeConfig, ServicePort } from "../src/model/types.js";
import { SCENARIOS, SHARED } from "./helpers/manifests.js";
import { NODE, endpoint, servicePort } from "./helpers/kubeproxy.js";

const rulesFor = (ports: ServicePort[], node: NodeConfig = NODE): IptablesRuleset =>
  buildIptablesRules({ ports }, node);

/** The restore-form lines of one table, without the table's fixed chains and static rules. */
function lines(ports: ServicePort[], node: NodeConfig = NODE): { filter: string[]; nat: string[] } {
  const text = renderIptables(rulesFor(ports, node), "restore");
  const [filter, nat] = text.split("COMMIT\n");
  const keep = (t: string | undefined) => (t ?? "").split("\n").filter((l) => l.startsWith("-A "));
  const staticRule = (l: string) =>
    /^-A (KUBE-FORWARD|KUBE-FIREWALL|KUBE-POSTROUTING|KUBE-MARK-MASQ) /.test(l) ||
    l.includes("must be the last rule");
  return { filter: keep(filter).filter((l) => !staticRule(l)), nat: keep(nat).filter((l) => !staticRule(l)) };
}

const chainsOf = (ports: ServicePort[], node: NodeConfig = NODE) => rulesFor(ports, node).nat.chains;

describe("kube-proxy chain names (reference §6)", () => {
  it("hashes the service port name and protocol", () => {
    assert.equal(portProtoHash("ns1/svc1:p80", "tcp"), "XPGD46QRK7WJZT7O");
    assert.equal(portProtoHash("ns1/svc1", "tcp"), "AQI2S6QIMU7PVVRP");
  });
  it("hashes SPN + protocol + ip:port for endpoint chains", () => {
    const p = servicePort();
    assert.equal(endpointChain(p, { ip: "10.180.0.1", port: 80 }), "KUBE-SEP-SXIVWICOYRO3J4NJ");
  });
  it("shares one hash between SVC, SVL, EXT and FW", () => {
    assert.deepEqual(servicePortChains(servicePort()), {
      cluster: "KUBE-SVC-XPGD46QRK7WJZT7O",
      local: "KUBE-SVL-XPGD46QRK7WJZT7O",
      external: "KUBE-EXT-XPGD46QRK7WJZT7O",
      firewall: "KUBE-FW-XPGD46QRK7WJZT7O",
    });
  });
});

describe("probabilities (reference §5)", () => {
  it("prints 1/(N-i) with 10 decimals", () => {
    assert.deepEqual([3, 2].map(probability), ["0.3333333333", "0.5000000000"]);
    assert.equal(probability(100001), "0.0000099999");
    assert.equal(probability(5), "0.2000000000");
  });
  it("rounds ties to even on the exact binary value, as Go does", () => {
    assert.equal(probability(2048), "0.0004882812"); // 1/2048 = 0.00048828125 exactly
    assert.equal(toFixedHalfEven(0.125, 2), "0.12");
    assert.equal(toFixedHalfEven(0.375, 2), "0.38");
    assert.equal(toFixedHalfEven(1, 3), "1.000");
  });
  it("prints what the kernel stores, round(p·2^31)/2^31, with 11 decimals in save form", () => {
    assert.equal(kernelProbability("0.3333333333"), "0.33333333349");
    assert.equal(kernelProbability("0.2000000000"), "0.20000000019");
    assert.equal(kernelProbability("0.5000000000"), "0.50000000000");
  });
});

describe("the save form (reference §1)", () => {
  const save = (chain: string, ...args: string[]) => saveRuleLine({ chain, args });
  it("adds /32, moves -s/-d/-p first and always quotes comments", () => {
    assert.equal(
      save(
        "KUBE-SERVICES",
        "-m",
        "comment",
        "--comment",
        "ns1/svc1:p80 cluster IP",
        "-m",
        "tcp",
        "-p",
        "tcp",
        "-d",
        "172.30.0.41",
        "--dport",
        "80",
        "-j",
        "KUBE-SVC-X",
      ),
      '-A KUBE-SERVICES -d 172.30.0.41/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-X',
    );
    assert.equal(
      save(
        "KUBE-SEP-X",
        "-m",
        "comment",
        "--comment",
        "ns1/svc1:p80",
        "-s",
        "10.180.0.1",
        "-j",
        "KUBE-MARK-MASQ",
      ),
      '-A KUBE-SEP-X -s 10.180.0.1/32 -m comment --comment "ns1/svc1:p80" -j KUBE-MARK-MASQ',
    );
  });
  it("prints ! -s before -d, as the kernel stores the IP header match", () => {
    assert.equal(
      save("KUBE-FIREWALL", "-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8", "-j", "DROP"),
      "-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP",
    );
  });
  it("rewrites --or-mark and --xor-mark as --set-xmark", () => {
    assert.equal(
      save("KUBE-MARK-MASQ", "-j", "MARK", "--or-mark", "0x4000"),
      "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
    );
    assert.equal(
      save("KUBE-POSTROUTING", "-j", "MARK", "--xor-mark", "0x4000"),
      "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
    );
  });
  it("prints probabilities as stored, REJECT's default, recent's defaults and nfacct's double space", () => {
    assert.equal(
      save("S", "-m", "statistic", "--mode", "random", "--probability", "0.3333333333", "-j", "X"),
      "-A S -m statistic --mode random --probability 0.33333333349 -j X",
    );
    assert.equal(save("S", "-j", "REJECT"), "-A S -j REJECT --reject-with icmp-port-unreachable");
    assert.equal(
      save(
        "S",
        "-m",
        "recent",
        "--name",
        "KUBE-SEP-X",
        "--rcheck",
        "--seconds",
        "10800",
        "--reap",
        "-j",
        "KUBE-SEP-X",
      ),
      "-A S -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-X --mask 255.255.255.255 --rsource -j KUBE-SEP-X",
    );
    assert.equal(
      save("S", "-m", "nfacct", "--nfacct-name", "localhost_nps_accepted_pkts", "-j", "X"),
      "-A S -m nfacct --nfacct-name  localhost_nps_accepted_pkts -j X",
    );
  });
});

/** bin/maplb.js of this checkout (the tests run from dist/test). */
const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;

describe("the reference's worked example", () => {
  it("`maplb iptables` prints seed-003-nginx-svc.iptables byte for byte", () => {
    const r = spawnSync(
      process.execPath,
      [
        MAPLB,
        "iptables",
        "-f",
        join(SCENARIOS, "seed-003-eks-services.yaml"),
        "--service",
        "default/nginx-svc",
        "--node-name",
        "ip-10-110-24-222",
        "--cluster-cidr",
        "10.110.0.0/16",
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, readFileSync(join(SHARED, "reference", "seed-003-nginx-svc.iptables"), "utf8"));
  });

  it("reproduces seed-003-nginx-svc.iptables byte for byte", () => {
    const model = readModel([join(SCENARIOS, "seed-003-eks-services.yaml")], {
      services: ["default/nginx-svc"],
    });
    const node: NodeConfig = {
      ...NODE,
      nodeName: "ip-10-110-24-222",
      nodeIPs: [],
      clusterCIDR: "10.110.0.0/16",
    };
    const expected = readFileSync(join(SHARED, "reference", "seed-003-nginx-svc.iptables"), "utf8");
    assert.equal(renderIptables(buildIptablesRules(model, node), "canonical"), expected);
  });
});

describe("per service port rules (reference §4)", () => {
  const SVC = "KUBE-SVC-XPGD46QRK7WJZT7O";
  const SVL = "KUBE-SVL-XPGD46QRK7WJZT7O";
  const EXT = "KUBE-EXT-XPGD46QRK7WJZT7O";
  const FW = "KUBE-FW-XPGD46QRK7WJZT7O";
  const SEP = "KUBE-SEP-SXIVWICOYRO3J4NJ";
  const ep80 = (ip: string, o: Parameters<typeof endpoint>[1] = {}) => endpoint(ip, { port: 80, ...o });

  it("a ClusterIP service: masquerade rule, dispatch and SEP chain", () => {
    const { nat, filter } = lines([servicePort({ endpoints: [ep80("10.180.0.1")] })]);
    assert.deepEqual(filter, []);
    assert.deepEqual(nat, [
      `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j ${SVC}`,
      `-A ${SVC} -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`,
      `-A ${SVC} -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j ${SEP}`,
      `-A ${SEP} -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ`,
      `-A ${SEP} -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80`,
    ]);
  });

  it("without a cluster CIDR there is no masquerade rule; --masquerade-all masquerades everything", () => {
    const p = servicePort();
    assert.ok(
      !lines([p], { ...NODE, clusterCIDR: null }).nat.some(
        (l) => l.includes("KUBE-MARK-MASQ") && l.includes(SVC),
      ),
    );
    const all = lines([p], { ...NODE, masqueradeAll: true }).nat;
    assert.ok(
      all.includes(
        `-A ${SVC} -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ`,
      ),
    );
  });

  it("no endpoints: only filter REJECT rules, for the cluster IP and every external destination", () => {
    const p = servicePort({
      type: "LoadBalancer",
      endpoints: [],
      nodePort: 3001,
      externalIPs: ["192.0.2.1"],
      loadBalancerIPs: ["203.0.113.5"],
    });
    const { nat, filter } = lines([p]);
    assert.deepEqual(nat, []);
    assert.deepEqual(chainsOf([p]), [
      "KUBE-SERVICES",
      "KUBE-NODEPORTS",
      "KUBE-POSTROUTING",
      "KUBE-MARK-MASQ",
    ]);
    assert.deepEqual(filter, [
      '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j REJECT',
      '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 192.0.2.1 --dport 80 -j REJECT',
      '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 203.0.113.5 --dport 80 -j REJECT',
      '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j REJECT',
    ]);
  });

  it("not-ready endpoints that are not serving-and-terminating count as none", () => {
    const p = servicePort({ endpoints: [ep80("10.180.0.1", { ready: false, serving: false })] });
    assert.equal(lines([p]).filter.length, 1);
  });

  it("terminating fallback: serving-and-terminating endpoints are used when none is ready", () => {
    const p = servicePort({
      endpoints: [
        ep80("10.180.0.1", { ready: false, serving: true, terminating: true }),
        ep80("10.180.0.2", { ready: false, serving: false, terminating: true }),
      ],
    });
    const { nat, filter } = lines([p]);
    assert.deepEqual(filter, []);
    assert.ok(nat.includes(`-A ${SVC} -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j ${SEP}`));
    assert.ok(!nat.some((l) => l.includes("10.180.0.2")));
  });

  it("internalTrafficPolicy=Local without local endpoints: DROP in filter KUBE-SERVICES", () => {
    const p = servicePort({
      internalTrafficPolicy: "Local",
      endpoints: [ep80("10.180.0.1", { nodeName: "node-b" })],
    });
    const { nat, filter } = lines([p]);
    assert.deepEqual(nat, []);
    assert.deepEqual(filter, [
      '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j DROP',
    ]);
  });

  it("internalTrafficPolicy=Local with a local endpoint: the cluster IP goes to KUBE-SVL", () => {
    const p = servicePort({
      internalTrafficPolicy: "Local",
      endpoints: [ep80("10.180.0.1"), ep80("10.180.0.2", { nodeName: "node-b" })],
    });
    const { nat } = lines([p]);
    assert.ok(nat[0]!.endsWith(`-j ${SVL}`));
    assert.ok(nat[1]!.startsWith(`-A ${SVL} `) && nat[1]!.endsWith("-j KUBE-MARK-MASQ"));
    assert.deepEqual(chainsOf([p]).slice(4), [SVL, SEP]); // no KUBE-SVC, no SEP for the remote endpoint
  });

  it("externalTrafficPolicy=Local: KUBE-EXT short-circuits pods and the node, then KUBE-SVL", () => {
    const p = servicePort({
      type: "LoadBalancer",
      nodePort: 30080,
      loadBalancerIPs: ["203.0.113.5"],
      externalTrafficPolicy: "Local",
      healthCheckNodePort: 30999,
      endpoints: [ep80("10.180.0.1"), ep80("10.180.0.2", { nodeName: "node-b" })],
    });
    const { nat, filter } = lines([p]);
    assert.deepEqual(filter, [
      '-A KUBE-NODEPORTS -m comment --comment "ns1/svc1:p80 health check node port" -m tcp -p tcp --dport 30999 -j ACCEPT',
    ]);
    assert.deepEqual(
      nat.filter((l) => l.startsWith(`-A ${EXT} `)),
      [
        `-A ${EXT} -m comment --comment "pod traffic for ns1/svc1:p80 external destinations" -s 10.0.0.0/8 -j ${SVC}`,
        `-A ${EXT} -m comment --comment "masquerade LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
        `-A ${EXT} -m comment --comment "route LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j ${SVC}`,
        `-A ${EXT} -j ${SVL}`,
      ],
    );
    assert.deepEqual(
      nat.filter((l) => l.startsWith("-A KUBE-NODEPORTS ")),
      [
        `-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 30080 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j ${EXT}`,
        `-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 30080 -j ${EXT}`,
      ],
    );
    assert.ok(
      nat.includes(
        `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 203.0.113.5 --dport 80 -j ${EXT}`,
      ),
    );
    assert.deepEqual(new Set(chainsOf([p]).slice(4)).size, 5); // EXT, SVC, SVL and both SEPs
  });

  it("externalTrafficPolicy=Local without local endpoints: EXT keeps its short-circuits, filter DROPs the rest", () => {
    const p = servicePort({
      type: "NodePort",
      nodePort: 30080,
      externalTrafficPolicy: "Local",
      endpoints: [ep80("10.180.0.2", { nodeName: "node-b" })],
    });
    const { nat, filter } = lines([p], { ...NODE, nfacct: false });
    assert.deepEqual(filter, [
      '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j DROP',
    ]);
    assert.ok(!nat.some((l) => l.includes("KUBE-SVL-")));
    assert.equal(nat.filter((l) => l.startsWith(`-A ${EXT} `)).length, 3);
    assert.equal(nat.filter((l) => l.startsWith("-A KUBE-NODEPORTS ")).length, 1); // no nfacct: no localhost rule
  });

  it("ETP=Local and ITP=Local together still build KUBE-SVC, which KUBE-EXT's short-circuits need", () => {
    const p = servicePort({
      type: "NodePort",
      nodePort: 30080,
      externalTrafficPolicy: "Local",
      internalTrafficPolicy: "Local",
      endpoints: [ep80("10.180.0.1"), ep80("10.180.0.2", { nodeName: "node-b" })],
    });
    const chains = chainsOf([p]);
    assert.ok(chains.includes(SVC) && chains.includes(SVL) && chains.includes(EXT));
    const jumps = rulesFor([p]).nat.rules.flatMap((r) => r.args.slice(-1));
    for (const target of jumps.filter((t) => t.startsWith("KUBE-")))
      assert.ok(chains.includes(target), target);
  });

  it("externalIPs and LoadBalancer IPs with ETP=Cluster enter KUBE-EXT, which masquerades", () => {
    const p = servicePort({
      type: "LoadBalancer",
      nodePort: 30080,
      externalIPs: ["192.0.2.1"],
      loadBalancerIPs: ["203.0.113.5"],
    });
    const { nat } = lines([p]);
    assert.deepEqual(nat.slice(0, 3), [
      `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j ${SVC}`,
      `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 external IP" -m tcp -p tcp -d 192.0.2.1 --dport 80 -j ${EXT}`,
      `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 203.0.113.5 --dport 80 -j ${EXT}`,
    ]);
    assert.deepEqual(
      nat.filter((l) => l.startsWith(`-A ${EXT} `)),
      [
        `-A ${EXT} -m comment --comment "masquerade traffic for ns1/svc1:p80 external destinations" -j KUBE-MARK-MASQ`,
        `-A ${EXT} -j ${SVC}`,
      ],
    );
  });

  it("loadBalancerSourceRanges: KUBE-FW accepts the ranges, KUBE-PROXY-FIREWALL drops the rest", () => {
    const p = servicePort({
      type: "LoadBalancer",
      loadBalancerIPs: ["203.0.113.5"],
      loadBalancerSourceRanges: ["198.51.100.0/24", "192.168.0.1/16"],
    });
    const { nat, filter } = lines([p]);
    assert.deepEqual(filter, [
      `-A KUBE-PROXY-FIREWALL -m comment --comment "ns1/svc1:p80 traffic not accepted by ${FW}" -m tcp -p tcp -d 203.0.113.5 --dport 80 -j DROP`,
    ]);
    assert.ok(
      nat.includes(
        `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 203.0.113.5 --dport 80 -j ${FW}`,
      ),
    );
    assert.deepEqual(
      nat.filter((l) => l.startsWith(`-A ${FW} `)),
      [
        `-A ${FW} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 198.51.100.0/24 -j ${EXT}`,
        `-A ${FW} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 192.168.0.0/16 -j ${EXT}`,
        // the node IP 192.168.0.2 is inside a range: node → VIP traffic loops back from the VIP
        `-A ${FW} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 203.0.113.5 -j ${EXT}`,
        `-A ${FW} -m comment --comment "other traffic to ns1/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"`,
      ],
    );
  });

  it("ClientIP affinity: recent --rcheck per endpoint first, recent --set in the SEP chain", () => {
    const p = servicePort({
      affinityTimeoutSeconds: 10800,
      endpoints: [ep80("10.180.0.1"), ep80("10.180.0.2")],
    });
    const { nat } = lines([p]);
    const svc = nat.filter((l) => l.startsWith(`-A ${SVC} `));
    assert.equal(svc.length, 5);
    assert.equal(
      svc[1],
      `-A ${SVC} -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m recent --name ${SEP} --rcheck --seconds 10800 --reap -j ${SEP}`,
    );
    assert.ok(svc[3]!.includes("-m statistic --mode random --probability 0.5000000000"));
    assert.ok(
      nat.includes(
        `-A ${SEP} -m comment --comment ns1/svc1:p80 -m recent --name ${SEP} --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80`,
      ),
    );
  });

  it("endpoints in string order of ip:port get 1/(N-i)", () => {
    const p = servicePort({ endpoints: ["10.0.1.10", "10.0.1.2", "10.0.1.3"].map((ip) => ep80(ip)) });
    const svc = lines([p]).nat.filter((l) => l.startsWith(`-A ${SVC} `) && l.includes("->"));
    assert.deepEqual(
      svc.map((l) => [/-> (\S+)"/.exec(l)![1], /--probability (\S+)/.exec(l)?.[1] ?? "last"]),
      [
        ["10.0.1.10:80", "0.3333333333"],
        ["10.0.1.2:80", "0.5000000000"],
        ["10.0.1.3:80", "last"],
      ],
    );
  });

  it("more than 1000 endpoints: SVC→SEP and SEP rules lose their comments", () => {
    const many = Array.from({ length: 1001 }, (_, i) => ep80(`10.1.${i >> 8}.${i & 255}`));
    const { nat } = lines([servicePort({ endpoints: many })]);
    assert.ok(
      nat.some((l) =>
        /^-A KUBE-SVC-\S+ -m statistic --mode random --probability 0\.0009990010 -j KUBE-SEP-/.test(l),
      ),
    );
    assert.ok(nat.some((l) => /^-A KUBE-SEP-\S+ -s 10\.1\.0\.0 -j KUBE-MARK-MASQ$/.test(l)));
    assert.ok(
      nat.some((l) => l.includes("cluster IP")),
      "the KUBE-SERVICES and masquerade rules keep theirs",
    );
    const { nat: small } = lines([servicePort({ endpoints: many.slice(0, 1000) })]);
    assert.ok(small.every((l) => l.includes("--comment")));
  });

  it("a NodePort service without a nodePort gets no NodePort rules", () => {
    const { nat } = lines([servicePort({ type: "NodePort", nodePort: 0 })]);
    assert.ok(!nat.some((l) => l.includes("KUBE-NODEPORTS") || l.includes("KUBE-EXT")));
  });

  it("without localhost NodePorts: no KUBE-FIREWALL, and the last rule skips 127.0.0.0/8", () => {
    const text = renderIptables(rulesFor([], { ...NODE, localhostNodePorts: false }), "restore");
    assert.ok(!text.includes("KUBE-FIREWALL"));
    assert.ok(text.includes("-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS"));
  });
});

describe("the three forms", () => {
  const ports = [
    servicePort({ namespace: "b", name: "z", endpoints: [endpoint("10.1.0.1")] }),
    servicePort({
      namespace: "a",
      name: "y",
      portName: "",
      nodePort: 30001,
      type: "NodePort",
      endpoints: [endpoint("10.1.0.2")],
    }),
  ];
  const rules = rulesFor(ports);
  it("restore: filter then nat, chain lines then rules, kube-proxy's chain order", () => {
    const text = renderIptables(rules, "restore");
    assert.ok(
      text.startsWith(
        "*filter\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]\n",
      ),
    );
    assert.ok(text.includes("COMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n"));
    assert.ok(text.endsWith("COMMIT\n"));
  });
  it("canonical: KUBE-NODEPORTS, KUBE-SERVICES, then alphabetical; services sorted; the nodeports rule last", () => {
    const text = renderIptables(rules, "canonical");
    const natChains = text
      .split("*nat\n")[1]!
      .split("\n")
      .filter((l) => l.startsWith(":"));
    assert.deepEqual(natChains.slice(0, 4), [
      ":KUBE-NODEPORTS - [0:0]",
      ":KUBE-SERVICES - [0:0]",
      ":KUBE-EXT-" + portProtoHash("a/y", "tcp") + " - [0:0]",
      ":KUBE-MARK-MASQ - [0:0]",
    ]);
    const services = text.split("\n").filter((l) => l.startsWith("-A KUBE-SERVICES"));
    assert.match(services[0]!, /"a\/y cluster IP"/);
    assert.match(services[1]!, /"b\/z:p80 cluster IP"/);
    assert.match(services[2]!, /must be the last rule/);
  });
  it("save: every rule of restore, re-rendered, chains in alphabetical order", () => {
    const save = renderIptables(rules, "save");
    const restore = renderIptables(rules, "restore");
    const count = (t: string) => t.split("\n").filter((l) => l.startsWith("-A ")).length;
    assert.equal(count(save), count(restore));
    assert.ok(save.includes("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000"));
    assert.ok(!/ -[sd] \d+\.\d+\.\d+\.\d+ /.test(save), "every address has a prefix length");
  });
});
