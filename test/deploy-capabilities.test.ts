// The DaemonSet runs the agent as root with a short list of capabilities instead of privileged. This
// test runs maplb with exactly that list (setpriv narrows the bounding set, so uid 0 gets those and
// no others) and checks that it is enough: the agent loads the program, pins its maps and follows
// the API server; with --interface it attaches, and the program stays attached after SIGTERM; the
// program attaches (XDP and TC) in a network namespace. It also checks that
// CAP_PERFMON, the least obvious entry, is needed: without it the kernel refuses the program, and
// maplb's error says what is missing. Runs as root on a kernel with BPF; otherwise skips.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { PROXY_LABEL_SELECTOR } from "../src/agent/cluster-watch.js";
import { probeKernel } from "../src/datapath/kernel.js";
import { Topology, canCreateNamespaces } from "../src/netns/netns.js";
import { expectedView } from "./helpers/agent-maps.js";
import { ips, slice, svc } from "./helpers/agent-objects.js";
import { healthy, readPinned, startAgent, terminate, webApiServer } from "./helpers/agent-process.js";
import { writeTemp } from "./helpers/manifests.js";
import { nodeConfig } from "./helpers/model-factory.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const BIN = join(ROOT, "bin/maplb.js");
const KERNEL_JS = join(ROOT, "dist/src/datapath/kernel.js");

interface AgentContainer {
  args: string[];
  securityContext: { capabilities: { add: string[] } };
}

/** The DaemonSet's agent container. */
function daemonSetAgent(): AgentContainer {
  const ds = parseAllDocuments(readFileSync(join(ROOT, "deploy/daemonset.yaml"), "utf8"))[0]!.toJS() as {
    spec: { template: { spec: { containers: AgentContainer[] } } };
  };
  return ds.spec.template.spec.containers[0]!;
}

/** The capabilities the DaemonSet's agent container adds (it drops all others). */
const daemonSetCapabilities = (): string[] => daemonSetAgent().securityContext.capabilities.add;

/**
 * Runs the rest of the command line with `hostDir` as its /sys/fs/bpf, in a mount namespace of its
 * own: the DaemonSet mounts the node's /sys/fs/bpf/maplb there, so the agent sees only that.
 */
const withBpffsOf = (hostDir: string): string[] => [
  ...["unshare", "--mount", "--propagation", "private", "--"],
  ...["sh", "-c", 'mount --bind "$0" /sys/fs/bpf && exec "$@"', hostDir],
];

/** `setpriv` with only `caps` in the bounding set and no_new_privs (allowPrivilegeEscalation: false). */
const withOnly = (caps: string[]): string[] => [
  "setpriv",
  `--bounding-set=-all,${caps.map((c) => `+${c.toLowerCase()}`).join(",")}`,
  "--no-new-privs",
  "--",
];

const skip =
  probeKernel() ??
  canCreateNamespaces() ??
  (spawnSync("setpriv", ["--version"]).status === 0 ? null : "needs setpriv (util-linux)");

describe("deploy/daemonset.yaml's capabilities, and no others", { skip: skip ?? false }, () => {
  const caps = daemonSetCapabilities();
  const server = webApiServer();
  const dir = mkdtempSync(join(tmpdir(), "maplb-caps-"));
  const pinDir = `/sys/fs/bpf/maplb-test-caps-${process.pid}`;
  const topo = new Topology("caps");
  /** The host's end of the veth pair the agent attaches to. */
  const ifname = `mlbc${process.pid.toString(36)}`;

  after(() => {
    topo.cleanup();
    spawnSync("ip", ["link", "del", ifname], { stdio: "ignore" }); // gone with its peer's namespace, normally
    rmSync(dir, { recursive: true, force: true });
    rmSync(pinDir, { recursive: true, force: true });
  });

  it("the agent loads the program, pins its maps in its bpffs subdirectory and follows the API server", async () => {
    const node = nodeConfig();
    // The DaemonSet's --pin-dir, inside the container's /sys/fs/bpf, which is pinDir on this host.
    const inContainer = daemonSetAgent()
      .args.find((a) => a.startsWith("--pin-dir="))!
      .slice("--pin-dir=".length);
    mkdirSync(pinDir, { recursive: true });
    const agent = await startAgent(
      [
        ...["--kubeconfig", server.writeKubeconfig(dir), "--node-name", node.nodeName],
        ...["--node-ip", node.nodeIPs[0]!, "--metrics-addr", "127.0.0.1:0", "--min-sync-period", "0"],
        ...["--datapath", "kernel", "--pin-dir", inContainer, "--no-attach"],
      ],
      { prefix: [...withBpffsOf(pinDir), ...withOnly(caps)] },
    );
    await healthy(agent);
    assert.equal(await terminate(agent), 0);
    const onHost = join(pinDir, inContainer.slice("/sys/fs/bpf/".length));
    assert.deepEqual(
      readPinned(onHost).view,
      expectedView(server.objectsMatching(PROXY_LABEL_SELECTOR), node),
    );
    assert.equal(existsSync(inContainer), false, `nothing pinned at ${inContainer} on the host`);
  });

  it("in place of kube-proxy (--interface): the agent attaches, and SIGTERM leaves the program attached", async () => {
    // One end of a veth pair in this host's namespace, for the agent (which must reach the API server
    // on loopback) to attach to; the other end in a namespace of the test's, so that deleting it
    // removes the pair. No traffic crosses it.
    const peer = topo.addNamespace("peer");
    spawnSync("ip", ["link", "del", ifname], { stdio: "ignore" }); // a leftover from a killed run
    const made = spawnSync("ip", [
      "link",
      "add",
      ifname,
      "type",
      "veth",
      "peer",
      "name",
      "p0",
      "netns",
      peer,
    ]);
    assert.equal(made.status, 0, String(made.stderr));
    const node = nodeConfig();
    const agent = await startAgent(
      [
        ...["--kubeconfig", server.writeKubeconfig(dir), "--node-name", node.nodeName],
        ...["--metrics-addr", "127.0.0.1:0", "--datapath", "kernel", "--pin-dir", pinDir],
        ...["--interface", ifname, "--attach-mode", "tc"],
      ],
      { prefix: withOnly(caps) },
    );
    await healthy(agent);
    assert.equal(await terminate(agent), 0);
    const filters = spawnSync("tc", ["filter", "show", "dev", ifname, "ingress"], { encoding: "utf8" });
    assert.match(filters.stdout, /maplb_tc/, "the filter outlives the agent");
  });

  it("the program attaches with XDP and with TC to a veth in a namespace", () => {
    const [a, b] = [topo.addNamespace("a"), topo.addNamespace("b")];
    topo.link(
      { ns: a, ifname: "v0", addr: "198.18.250.1/30" },
      { ns: b, ifname: "v1", addr: "198.18.250.2/30" },
    );
    const script = `
      import { openKernel } from ${JSON.stringify(KERNEL_JS)};
      const dp = openKernel({ ephemeral: true });
      try { dp.attachXdp("v0"); dp.detachXdp("v0"); dp.attachTc("v0", "ingress"); } finally { dp.close(); }`;
    // nsenter needs CAP_SYS_ADMIN, so it enters the namespace first and setpriv narrows after it.
    const r = spawnSync(
      "nsenter",
      [
        `--net=/run/netns/${a}`,
        "--",
        ...withOnly(caps),
        process.execPath,
        "--input-type=module",
        "-e",
        script,
      ],
      { encoding: "utf8", env: { ...process.env, MAPLB_LOG_LEVEL: "silent" } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(topo.exec(a, "tc", ["filter", "show", "dev", "v0", "ingress"]), /maplb_tc/);
  });

  it("without CAP_PERFMON the kernel refuses the program, and the error names the capability", () => {
    assert.ok(caps.includes("PERFMON"));
    const scenario = writeTemp(
      "caps.yaml",
      [svc("web", "10.96.0.10"), slice("web-1", "web", ips(2))].map((o) => JSON.stringify(o)).join("\n---\n"),
    );
    const [cmd, ...args] = [
      ...withOnly(caps.filter((c) => c !== "PERFMON")),
      ...[process.execPath, BIN, "apply", "-f", scenario, "--datapath", "kernel"],
      ...["--pin-dir", `${pinDir}-noperfmon`],
    ];
    const r = spawnSync(cmd!, args, { encoding: "utf8", env: { ...process.env, MAPLB_LOG_LEVEL: "silent" } });
    rmSync(`${pinDir}-noperfmon`, { recursive: true, force: true });
    assert.notEqual(r.status, 0, r.stdout);
    assert.match(r.stderr, /EACCES .*CAP_PERFMON/);
  });
});
