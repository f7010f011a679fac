// Sorting manifests into the three kinds maplb reads, validating each. Everything else (Deployments,
// Pods, ConfigMaps, …) that sits in the same files is ignored with a debug log: it is not an error.
import type { V1EndpointSlice, V1Endpoints, V1Service } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { ValidationIssue } from "../errors.js";
import { Checker, isRecord, objectIdentity } from "./checker.js";
import type { SourceObject } from "./documents.js";
import { checkEndpointSlice } from "./endpointslice.js";
import { checkEndpoints, endpointsToSlices } from "./endpoints-legacy.js";
import { checkService } from "./service.js";

export interface ClusterObjects {
  services: V1Service[];
  slices: V1EndpointSlice[];
  /** Slices converted from legacy Endpoints; used only for Services that have no real slices. */
  legacySlices: V1EndpointSlice[];
  issues: ValidationIssue[];
  /** Where each valid Service came from, for problems found across objects (conflicts.ts). */
  sources?: Map<V1Service, SourceObject>;
}

type Meta = { metadata?: object };

/**
 * A valid object with its namespace spelled out: an empty or missing one is "default". A plain object
 * that spells it out already is kept as it is: copying 100k Services and their slices kept 400k more
 * objects alive through the read, for nothing. (Others, API client classes included, are copied.)
 */
function inNamespace<T extends Meta>(o: T, namespace: string): T {
  const spelledOut = (o.metadata as { namespace?: unknown } | undefined)?.namespace === namespace;
  if (spelledOut && Object.getPrototypeOf(o) === Object.prototype) return o;
  return { ...o, metadata: { ...o.metadata, namespace } };
}

export function sortObjects(sources: SourceObject[], log: Logger): ClusterObjects {
  const out: ClusterObjects = { services: [], slices: [], legacySlices: [], issues: [], sources: new Map() };
  // "Kind ns/name" → where it was first seen. The API server holds one object per name; two in the
  // input would leave "the last one wins" to file order, so the second one is an error.
  const seen = new Map<string, SourceObject>();
  for (const src of sources) {
    const o = src.object;
    if (!isRecord(o)) {
      out.issues.push({
        file: src.file,
        doc: src.doc,
        kind: "?",
        object: "<unnamed>",
        field: "(document)",
        value: JSON.stringify(o),
        message: "must be a Kubernetes object (a mapping with apiVersion and kind)",
      });
      continue;
    }
    const kind = typeof o.kind === "string" ? o.kind : "";
    const api = typeof o.apiVersion === "string" ? o.apiVersion : "";
    const id = objectIdentity(o);
    const c = new Checker(src, kind || "?", id.display);
    /** The valid object, in its namespace, unless another one of this kind has the same name. */
    const unique = <T extends Meta>(v: T | undefined): T | undefined => {
      if (v === undefined) return undefined;
      const key = `${kind} ${id.display}`;
      const first = seen.get(key);
      if (first)
        return c.fail("metadata.name", id.name, `is used twice (also ${first.file} doc ${first.doc})`);
      seen.set(key, src);
      return inNamespace(v, id.namespace);
    };
    if (kind === "") {
      c.fail("kind", o.kind, "is required");
    } else if (kind === "Service" || kind === "Endpoints") {
      if (api !== "v1") c.fail("apiVersion", o.apiVersion, `must be v1 for ${kind}`);
      else if (kind === "Service") {
        const svc = unique(checkService(c, o));
        if (svc) {
          out.services.push(svc);
          out.sources!.set(svc, src);
        }
      } else out.legacySlices.push(...legacySlices(unique<V1Endpoints>(checkEndpoints(c, o))));
    } else if (kind === "EndpointSlice") {
      if (api !== "discovery.k8s.io/v1") c.fail("apiVersion", o.apiVersion, "must be discovery.k8s.io/v1");
      else {
        const slice = unique(checkEndpointSlice(c, o));
        if (slice) out.slices.push(slice);
      }
    } else {
      log.debug(
        { file: src.file, doc: src.doc, kind, object: id.display },
        "ignoring a kind maplb does not read",
      );
    }
    out.issues.push(...c.issues);
  }
  return out;
}

function legacySlices(ep: V1Endpoints | undefined): V1EndpointSlice[] {
  return ep ? endpointsToSlices(ep) : [];
}
