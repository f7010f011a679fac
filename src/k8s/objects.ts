// Sorting manifests into the three kinds maplb reads, validating each. Everything else (Deployments,
// Pods, ConfigMaps, …) that sits in the same files is ignored with a debug log: it is not an error.
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
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
}

export function sortObjects(sources: SourceObject[], log: Logger): ClusterObjects {
  const out: ClusterObjects = { services: [], slices: [], legacySlices: [], issues: [] };
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
    if (kind === "") {
      c.fail("kind", o.kind, "is required");
    } else if (kind === "Service" || kind === "Endpoints") {
      if (api !== "v1") c.fail("apiVersion", o.apiVersion, `must be v1 for ${kind}`);
      else if (kind === "Service") pushDefined(out.services, checkService(c, o));
      else out.legacySlices.push(...endpointsToSliceList(checkEndpoints(c, o)));
    } else if (kind === "EndpointSlice") {
      if (api !== "discovery.k8s.io/v1") c.fail("apiVersion", o.apiVersion, "must be discovery.k8s.io/v1");
      else pushDefined(out.slices, checkEndpointSlice(c, o));
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

function pushDefined<T>(list: T[], v: T | undefined): void {
  if (v !== undefined) list.push(v);
}

function endpointsToSliceList(ep: ReturnType<typeof checkEndpoints>): V1EndpointSlice[] {
  return ep ? endpointsToSlices(ep) : [];
}
