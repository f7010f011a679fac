// The agent's picture of the cluster: the valid Services and EndpointSlices the watch delivered,
// indexed by Service, so that one event rebuilds the model of one Service only.
//
// Every object goes through the same validation as manifest files (sortObjects). An invalid object is
// logged and skipped: the last valid version of it stays in effect (an invalid new object is ignored),
// and every other Service keeps being programmed.
import type { KubernetesObject, V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { formatIssue, type ValidationIssue } from "../errors.js";
import { SERVICE_NAME_LABEL } from "../k8s/endpointslice.js";
import { sortObjects } from "../k8s/objects.js";
import { buildModel } from "../model/build.js";
import type { ServicePort } from "../model/types.js";
import { type Resource, SERVICE_PROXY_NAME_LABEL, type WatchEvent } from "./cluster-watch.js";

const TYPE_META: Record<Resource, { apiVersion: string; kind: string }> = {
  services: { apiVersion: "v1", kind: "Service" },
  endpointslices: { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice" },
};

/** `ns/name` of an object. */
export function objectKey(o: KubernetesObject): string {
  return `${o.metadata?.namespace || "default"}/${o.metadata?.name ?? ""}`;
}

/** `ns/service` of the Service a slice belongs to. */
function sliceServiceKey(s: V1EndpointSlice): string {
  return `${s.metadata?.namespace || "default"}/${s.metadata?.labels?.[SERVICE_NAME_LABEL] ?? ""}`;
}

export interface ApplyResult {
  /** Services whose ports may have changed and need recompiling. */
  services: string[];
  /** Validation problems of a skipped object (empty when it was taken). */
  issues: ValidationIssue[];
}

export class ClusterState {
  private readonly services = new Map<string, V1Service>();
  private readonly slices = new Map<string, V1EndpointSlice>();
  /** Service key → keys of its slices. */
  private readonly slicesOf = new Map<string, Set<string>>();

  constructor(private readonly log: Logger) {}

  /** Takes one watch event in; returns the Services it affects. */
  apply(e: WatchEvent): ApplyResult {
    const key = objectKey(e.object);
    // The server filters foreign objects out, but a label added to an object we hold arrives as an
    // update when the selector is not applied (or not supported): it leaves us like a deletion.
    const foreign = e.object.metadata?.labels?.[SERVICE_PROXY_NAME_LABEL] !== undefined;
    if (e.type === "delete" || foreign) return { services: this.remove(e.resource, key), issues: [] };

    const checked = this.validate(e);
    if (checked.issues.length > 0) {
      for (const i of checked.issues) this.log.warn({ issue: formatIssue(i) }, "skipping an invalid object");
      return { services: [], issues: checked.issues };
    }
    const svc = checked.services[0];
    if (svc) {
      this.services.set(key, svc);
      return { services: [key], issues: [] };
    }
    const slice = checked.slices[0];
    if (!slice) return { services: [], issues: [] };
    const affected = this.remove("endpointslices", key); // the slice may have moved to another Service
    const svcKey = sliceServiceKey(slice);
    this.slices.set(key, slice);
    this.slicesOf.set(svcKey, (this.slicesOf.get(svcKey) ?? new Set()).add(key));
    return { services: [...new Set([...affected, svcKey])], issues: [] };
  }

  /** The model's ports of one Service (none when the Service is gone or builds no frontends). */
  ports(serviceKey: string): ServicePort[] {
    const svc = this.services.get(serviceKey);
    if (!svc) return [];
    const slices = [...(this.slicesOf.get(serviceKey) ?? [])].map((k) => this.slices.get(k)!);
    return buildModel({ services: [svc], slices, legacySlices: [], issues: [] }, this.log).ports;
  }

  serviceKeys(): string[] {
    return [...this.services.keys()];
  }

  get size(): { services: number; slices: number } {
    return { services: this.services.size, slices: this.slices.size };
  }

  private remove(resource: Resource, key: string): string[] {
    if (resource === "services") return this.services.delete(key) ? [key] : [];
    const old = this.slices.get(key);
    if (!old) return [];
    this.slices.delete(key);
    const svcKey = sliceServiceKey(old);
    const set = this.slicesOf.get(svcKey);
    set?.delete(key);
    if (set?.size === 0) this.slicesOf.delete(svcKey);
    return [svcKey];
  }

  /** The manifest validator, on the object as the API server sent it (list items lack apiVersion/kind). */
  private validate(e: WatchEvent) {
    const object = { ...e.object, ...TYPE_META[e.resource] };
    const where = `kube-apiserver ${e.resource}`;
    return sortObjects(
      [{ file: where, doc: `rv ${e.object.metadata?.resourceVersion ?? "?"}`, object }],
      this.log,
    );
  }
}
