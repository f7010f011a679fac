// deploy/: the RBAC grants list and watch on the two resources and nothing more; the DaemonSet runs
// with host networking, named capabilities instead of privileged, /sys/fs/bpf mounted, and flags the
// agent command accepts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { buildProgram } from "../src/cli/main.js";

const DEPLOY = new URL("../../deploy/", import.meta.url).pathname;

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function docs(file: string): Doc[] {
  return parseAllDocuments(readFileSync(`${DEPLOY}${file}`, "utf8")).map((d) => d.toJS() as Doc);
}

describe("deploy/", () => {
  const rbac = docs("rbac.yaml");
  const ds = docs("daemonset.yaml")[0]!;
  const pod = ds.spec.template.spec;
  const agent = pod.containers[0];

  it("ClusterRole: list and watch on services and endpointslices, nothing else", () => {
    const role = rbac.find((d) => d.kind === "ClusterRole")!;
    assert.deepEqual(role.rules, [
      { apiGroups: [""], resources: ["services"], verbs: ["list", "watch"] },
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
    ]);
    const binding = rbac.find((d) => d.kind === "ClusterRoleBinding")!;
    assert.equal(binding.roleRef.name, role.metadata.name);
    assert.equal(binding.subjects[0].name, pod.serviceAccountName);
    assert.ok(rbac.some((d) => d.kind === "ServiceAccount" && d.metadata.name === pod.serviceAccountName));
  });

  it("DaemonSet: hostNetwork, CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN without privileged, seccomp RuntimeDefault", () => {
    assert.equal(pod.hostNetwork, true);
    const sc = agent.securityContext;
    assert.notEqual(sc.privileged, true);
    assert.deepEqual(sc.capabilities.drop, ["ALL"]);
    for (const cap of ["BPF", "PERFMON", "NET_ADMIN"]) assert.ok(sc.capabilities.add.includes(cap), cap);
    // The container's own setting wins over the pod's: neither may turn the filter off.
    const seccomp = sc.seccompProfile ?? pod.securityContext?.seccompProfile;
    assert.deepEqual(seccomp, { type: "RuntimeDefault" });
    assert.equal(agent.livenessProbe.httpGet.path, "/healthz");
  });

  it("DaemonSet: only maplb's subdirectory of the node's bpffs is mounted, and --pin-dir lies in it", () => {
    const bpfVolumes = pod.volumes.filter((v: Doc) => v.hostPath?.path?.startsWith("/sys/fs/bpf"));
    assert.deepEqual(
      bpfVolumes.map((v: Doc) => v.hostPath.path),
      ["/sys/fs/bpf/maplb"],
    );
    const mount = agent.volumeMounts.find((m: Doc) => m.name === bpfVolumes[0].name);
    const pinDir = (agent.args as string[]).find((a) => a.startsWith("--pin-dir="))!.split("=")[1]!;
    assert.ok(pinDir.startsWith(`${mount.mountPath}/`), `${pinDir} is under ${mount.mountPath}`);
    assert.equal(mount.readOnly ?? false, false, "the agent pins maps there");
  });

  it("DaemonSet: /metrics and /healthz on the node's IP, not on every address", () => {
    const args: string[] = agent.args;
    assert.ok(args.includes("--metrics-addr=$(NODE_IP):10262"), args.join(" "));
    const env = agent.env.find((e: Doc) => e.name === "NODE_IP");
    assert.equal(env.valueFrom.fieldRef.fieldPath, "status.hostIP");
  });

  it("DaemonSet: every flag is one `maplb agent` knows, and probes use --metrics-addr's port", () => {
    const cmd = buildProgram().commands.find((c) => c.name() === "agent")!;
    const known = new Set(cmd.options.map((o) => o.long));
    const args: string[] = agent.args;
    for (const a of args) assert.ok(known.has(a.split("=")[0]), `unknown flag ${a}`);
    const addr = args.find((a) => a.startsWith("--metrics-addr="))!;
    assert.equal(Number(addr.split(":").pop()), agent.readinessProbe.httpGet.port);
  });
});
