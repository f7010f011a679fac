// Structural validation of discovery.k8s.io/v1 EndpointSlices.
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { isIPv4, isIPv6 } from "../util/ip.js";
import { Checker, PROTOCOLS, checkMetadata, isRecord, type Raw } from "./checker.js";
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

function checkEndpoints(c: Checker, o: Raw, addressType: string | undefined): void {
  const fitsType = (a: string) =>
    addressType === "IPv4" ? isIPv4(a) : addressType === "IPv6" ? isIPv6(a) : a.length > 0;
  c.array(o, "endpoints", "endpoints").forEach((ep, i) => {
    const path = `endpoints[${i}]`;
    if (!isRecord(ep)) return void c.fail(path, ep, "must be an object");
    const addrs = c.array(ep, "addresses", `${path}.addresses`);
    if (addrs.length === 0) c.fail(`${path}.addresses`, ep.addresses, "must list at least one address");
    addrs.forEach((a, j) => {
      if (typeof a !== "string" || !fitsType(a))
        c.fail(`${path}.addresses[${j}]`, a, `is not a valid ${addressType ?? "IP"} address`);
    });
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
