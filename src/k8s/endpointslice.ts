// Structural validation of discovery.k8s.io/v1 EndpointSlices.
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { Checker, PROTOCOLS, checkMetadata, isRecord, type Raw } from "./checker.js";
import { endpointIPProblem, ipFamily } from "./ip-forms.js";
import { dns1123Label, dns1123Subdomain, labelValue } from "./names.js";

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
export const ADDRESS_TYPES = ["IPv4", "IPv6", "FQDN"] as const;

function checkSlicePorts(c: Checker, o: Raw): void {
  const names = new Map<string, number>();
  c.array(o, "ports", "ports").forEach((raw, i) => {
    const path = `ports[${i}]`;
    if (!isRecord(raw)) return void c.fail(path, raw, "must be an object");
    const name = c.name(raw, "name", `${path}.name`, dns1123Label) ?? "";
    c.port(raw, "port", `${path}.port`);
    c.oneOf(raw, "protocol", `${path}.protocol`, PROTOCOLS);
    const seen = names.get(name);
    if (seen !== undefined) c.fail(`${path}.name`, name, `duplicate port name (also ports[${seen}].name)`);
    else names.set(name, i);
  });
}

/** The API server's bounds on a slice (pkg/apis/discovery/validation). */
export const MAX_SLICE_ENDPOINTS = 1000;
export const MAX_ENDPOINT_ADDRESSES = 100;

/**
 * An address of the slice's type: for IPv4 and IPv6 a valid address (ip-forms.ts) of that family
 * that traffic can go to (ValidateEndpointIP), as the API server checks it. An FQDN or an address
 * of an unknown type only needs to be a non-empty string (kube-proxy reads neither).
 */
function checkAddress(c: Checker, a: unknown, path: string, addressType: string | undefined): void {
  if (addressType !== "IPv4" && addressType !== "IPv6") {
    if (typeof a !== "string" || a === "") c.fail(path, a, `is not a valid ${addressType ?? "IP"} address`);
    return;
  }
  const ip = c.ip(a, path);
  if (ip === undefined) return;
  const problem =
    ipFamily(ip) !== addressType ? `is not a valid ${addressType} address` : endpointIPProblem(ip);
  if (problem) c.fail(path, a, problem);
}

function checkEndpoints(c: Checker, o: Raw, addressType: string | undefined): void {
  const endpoints = c.array(o, "endpoints", "endpoints");
  if (endpoints.length > MAX_SLICE_ENDPOINTS)
    return void c.fail("endpoints", endpoints.length, `must have at most ${MAX_SLICE_ENDPOINTS} items`);
  endpoints.forEach((ep, i) => {
    const path = `endpoints[${i}]`;
    if (!isRecord(ep)) return void c.fail(path, ep, "must be an object");
    const addrs = c.array(ep, "addresses", `${path}.addresses`);
    if (addrs.length === 0) c.fail(`${path}.addresses`, ep.addresses, "must list at least one address");
    else if (addrs.length > MAX_ENDPOINT_ADDRESSES)
      c.fail(`${path}.addresses`, addrs.length, `must have at most ${MAX_ENDPOINT_ADDRESSES} items`);
    addrs.forEach((a, j) => checkAddress(c, a, `${path}.addresses[${j}]`, addressType));
    const cond = c.record(ep, "conditions", `${path}.conditions`);
    if (cond) for (const k of ["ready", "serving", "terminating"]) c.bool(cond, k, `${path}.conditions.${k}`);
    c.name(ep, "nodeName", `${path}.nodeName`, dns1123Subdomain);
    c.name(ep, "zone", `${path}.zone`, labelValue);
    const ref = c.record(ep, "targetRef", `${path}.targetRef`);
    if (ref) c.string(ref, "name", `${path}.targetRef.name`);
  });
}

export function checkEndpointSlice(c: Checker, o: Raw): V1EndpointSlice | undefined {
  const meta = checkMetadata(c, o, dns1123Subdomain);
  const labels = meta && isRecord(meta.labels) ? meta.labels : {};
  const svc = labels[SERVICE_NAME_LABEL];
  const labelPath = `metadata.labels["${SERVICE_NAME_LABEL}"]`;
  if (typeof svc !== "string" || svc === "") {
    if (meta) c.fail(labelPath, svc, "is required: it names the slice's Service");
  } else {
    // Any label value, as the API server accepts; one that is no Service name matches no Service.
    const problem = labelValue(svc);
    if (problem) c.fail(labelPath, svc, `${problem} (it names the slice's Service)`);
  }
  const addressType = c.oneOf(o, "addressType", "addressType", ADDRESS_TYPES);
  if (o.addressType === undefined) c.fail("addressType", undefined, "is required");
  checkSlicePorts(c, o);
  checkEndpoints(c, o, addressType);
  return c.issues.length === 0 ? (o as unknown as V1EndpointSlice) : undefined;
}
