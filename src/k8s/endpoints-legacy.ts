// Legacy v1 Endpoints: validated, then converted into the EndpointSlices the EndpointSlice mirroring
// controller would have made, so the rest of maplb reads only slices.
import type { V1Endpoints, V1EndpointSlice } from "@kubernetes/client-node";
import { IP_FAMILIES } from "../model/types.js";
import { Checker, PROTOCOLS, checkMetadata, isRecord, type Raw } from "./checker.js";
import { ipFamily } from "./ip-forms.js";
import { dns1123Label, dns1123Subdomain } from "./names.js";
import { SERVICE_NAME_LABEL } from "./endpointslice.js";

export function checkEndpoints(c: Checker, o: Raw): V1Endpoints | undefined {
  checkMetadata(c, o, dns1123Subdomain);
  c.array(o, "subsets", "subsets").forEach((s, i) => {
    const path = `subsets[${i}]`;
    if (!isRecord(s)) return void c.fail(path, s, "must be an object");
    for (const list of ["addresses", "notReadyAddresses"])
      c.array(s, list, `${path}.${list}`).forEach((a, j) => {
        const ap = `${path}.${list}[${j}]`;
        if (!isRecord(a)) return void c.fail(ap, a, "must be an object");
        c.endpointIP(a.ip, `${ap}.ip`); // as the API server checks an endpoint address
        c.name(a, "nodeName", `${ap}.nodeName`, dns1123Subdomain);
        const ref = c.record(a, "targetRef", `${ap}.targetRef`);
        if (ref) c.string(ref, "name", `${ap}.targetRef.name`);
      });
    const names = new Map<string, number>();
    c.array(s, "ports", `${path}.ports`).forEach((p, j) => {
      const pp = `${path}.ports[${j}]`;
      if (!isRecord(p)) return void c.fail(pp, p, "must be an object");
      const name = c.name(p, "name", `${pp}.name`, dns1123Label) ?? "";
      c.port(p, "port", `${pp}.port`, true);
      c.oneOf(p, "protocol", `${pp}.protocol`, PROTOCOLS);
      if (names.has(name))
        c.fail(`${pp}.name`, name, `duplicate port name (also ${path}.ports[${names.get(name)}])`);
      else names.set(name, j);
    });
  });
  return c.issues.length === 0 ? (o as unknown as V1Endpoints) : undefined;
}

/**
 * One slice per subset and address family, as the mirroring controller makes them: `addresses` are
 * ready, `notReadyAddresses` are not. (The IPv4 slice keeps the name it had before IPv6.)
 */
export function endpointsToSlices(ep: V1Endpoints): V1EndpointSlice[] {
  const name = ep.metadata?.name ?? "";
  const namespace = ep.metadata?.namespace ?? "default";
  return (ep.subsets ?? []).flatMap((s, i) =>
    IP_FAMILIES.flatMap((family): V1EndpointSlice[] => {
      const conv = (ready: boolean) =>
        (ready ? (s.addresses ?? []) : (s.notReadyAddresses ?? []))
          .filter((a) => ipFamily(a.ip) === family)
          .map((a) => ({
            addresses: [a.ip],
            conditions: { ready },
            ...(a.nodeName ? { nodeName: a.nodeName } : {}),
            ...(a.targetRef ? { targetRef: a.targetRef } : {}),
          }));
      const endpoints = [...conv(true), ...conv(false)];
      if (family === "IPv6" && endpoints.length === 0) return [];
      const suffix = family === "IPv4" ? "" : "-ipv6";
      return [
        {
          metadata: {
            name: `${name}-legacy-${i}${suffix}`,
            namespace,
            labels: { [SERVICE_NAME_LABEL]: name },
          },
          addressType: family,
          ports: (s.ports ?? []).map((p) => ({
            name: p.name ?? "",
            port: p.port,
            protocol: p.protocol ?? "TCP",
          })),
          endpoints,
        },
      ];
    }),
  );
}
