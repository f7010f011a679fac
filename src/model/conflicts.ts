// Problems no single object shows, only the whole set read from files: two Services on one frontend,
// and a Maglev table too small for its backends. `maplb compile`, `iptables`, `nft` and `apply` refuse
// them (exit 2). The agent reads the API server instead, where Services come and go one at a time:
// it programs what it can and reports the rest (see src/compile/compiler.ts, frontendOwner).
import type { V1Service } from "@kubernetes/client-node";
import type { ValidationIssue } from "../errors.js";
import type { SourceObject } from "../k8s/documents.js";
import type { ClusterObjects } from "../k8s/objects.js";
import { ANNOTATION_MAGLEV_SIZE, MAX_MAGLEV_TABLE_SIZE } from "../k8s/service.js";
import { nextPrime } from "../util/prime.js";
import { maglevCandidates } from "./endpoints.js";
import type { ServiceModel, ServicePort } from "./types.js";

interface Claim {
  port: ServicePort;
  field: string;
  src: SourceObject | undefined;
}

/** Every frontend a service port claims (`address:port/PROTO`, or `NodePort n/PROTO`), with the field it comes from. */
function claims(p: ServicePort, portIndex: number): [string, string][] {
  const at = `${p.port}/${p.protocol}`;
  const out: [string, string][] = [];
  if (p.clusterIP !== null) out.push([`${p.clusterIP}:${at}`, "spec.clusterIP"]);
  p.externalIPs.forEach((ip, i) => out.push([`${ip}:${at}`, `spec.externalIPs[${i}]`]));
  p.loadBalancerIPs.forEach((ip) => out.push([`${ip}:${at}`, "status.loadBalancer.ingress"]));
  if (p.nodePort !== 0)
    out.push([`NodePort ${p.nodePort}/${p.protocol}`, `spec.ports[${portIndex}].nodePort`]);
  return out;
}

/** The index of a model port in its Service's spec.ports. */
function portIndex(svc: V1Service | undefined, p: ServicePort): number {
  return (svc?.spec?.ports ?? []).findIndex(
    (sp) => (sp.name ?? "") === p.portName && (sp.protocol ?? "TCP") === p.protocol,
  );
}

/** A Maglev table size to suggest for n backends: Cilium's advice M ≥ 100·N, within the allowed range. */
export function suggestMaglevSize(n: number): string {
  if (n >= MAX_MAGLEV_TABLE_SIZE)
    return `${n} backends are more than any Maglev table holds; use "maplb.io/lb-algorithm": "random"`;
  return `use a prime above ${n}, such as "${Math.min(nextPrime(100 * n), MAX_MAGLEV_TABLE_SIZE)}"`;
}

export function conflictIssues(objects: ClusterObjects, model: ServiceModel): ValidationIssue[] {
  const byName = new Map<string, { svc: V1Service; src: SourceObject }>();
  for (const [svc, src] of objects.sources ?? [])
    byName.set(`${svc.metadata?.namespace}/${svc.metadata?.name}`, { svc, src });
  const issues: ValidationIssue[] = [];
  const issue = (p: ServicePort, field: string, value: unknown, message: string) => {
    const where = byName.get(`${p.namespace}/${p.name}`);
    issues.push({
      file: where?.src.file ?? "?",
      doc: where?.src.doc ?? "?",
      kind: "Service",
      object: `${p.namespace}/${p.name}`,
      field,
      value: JSON.stringify(value),
      message,
    });
  };

  // In reading order (files, then documents): the first claimant keeps a frontend, later ones are named.
  // Each port's rank is looked up once, not in every comparison (100k ports: 1.7M comparisons).
  const order = new Map([...byName.keys()].map((k, i) => [k, i]));
  const ranked = model.ports.map((p) => {
    const key = `${p.namespace}/${p.name}`;
    return { p, key, rank: order.get(key) ?? order.size };
  });
  const owners = new Map<string, Claim>();
  for (const { p, key } of ranked.sort((a, b) => a.rank - b.rank)) {
    const where = byName.get(key);
    for (const [frontend, field] of claims(p, portIndex(where?.svc, p))) {
      const owner = owners.get(frontend);
      if (!owner) owners.set(frontend, { port: p, field, src: where?.src });
      else if (owner.port.namespace !== p.namespace || owner.port.name !== p.name) {
        const at = owner.src ? `${owner.src.file} doc ${owner.src.doc}, ` : "";
        const by = `Service ${owner.port.namespace}/${owner.port.name} (${at}${owner.field})`;
        issue(p, field, frontend, `frontend ${frontend} is already taken by ${by}`);
      }
    }
  }

  for (const p of model.ports) {
    const n = maglevCandidates(p);
    if (p.algorithm !== "maglev" || n <= p.maglevTableSize) continue;
    issue(
      p,
      `metadata.annotations["${ANNOTATION_MAGLEV_SIZE}"]`,
      String(p.maglevTableSize),
      `Maglev table size ${p.maglevTableSize} is smaller than the ${n} backends of port ${p.id}, ` +
        `so some would get no traffic: ${suggestMaglevSize(n)}`,
    );
  }
  return issues;
}
