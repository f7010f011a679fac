// fast-check arbitraries for EndpointSlice endpoints, shared by the property tests: every condition
// kube-proxy tells apart (ready, serving and terminating, neither), on this node or another.
import fc from "fast-check";
import type { Endpoint, IpFamily, ServicePort } from "../../src/model/types.js";
import { endpoint } from "./model-factory.js";

export const conditions = fc.constantFrom(
  { ready: true, serving: true, terminating: false },
  { ready: false, serving: true, terminating: true },
  { ready: false, serving: false, terminating: true },
  { ready: false, serving: false, terminating: false },
);

/** Up to `maxLength` endpoints 10.0.0.1..`maxHost` (2001:db8::1.. for IPv6; distinct), each on node-a or node-b. */
export function randomEndpoints(
  maxHost: number,
  maxLength: number,
  family: IpFamily = "IPv4",
): fc.Arbitrary<Endpoint[]> {
  const address = (h: number) => (family === "IPv6" ? `2001:db8::${h.toString(16)}` : `10.0.0.${h}`);
  return fc
    .uniqueArray(fc.integer({ min: 1, max: maxHost }), { maxLength })
    .chain((hosts) =>
      fc.tuple(
        ...hosts.map((h) =>
          fc
            .tuple(conditions, fc.constantFrom("node-a", "node-b"))
            .map(([c, nodeName]) => endpoint(address(h), { ...c, nodeName })),
        ),
      ),
    );
}

/** A service port's type, protocol and policies: every value kube-proxy and the compiler tell apart. */
export const portPolicy = {
  type: fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer") as fc.Arbitrary<ServicePort["type"]>,
  protocol: fc.constantFrom("TCP", "UDP") as fc.Arbitrary<ServicePort["protocol"]>,
  externalTrafficPolicy: fc.constantFrom("Cluster", "Local") as fc.Arbitrary<
    ServicePort["externalTrafficPolicy"]
  >,
  internalTrafficPolicy: fc.constantFrom("Cluster", "Local") as fc.Arbitrary<
    ServicePort["internalTrafficPolicy"]
  >,
  affinityTimeoutSeconds: fc.constantFrom(null, 60),
  algorithm: fc.constantFrom("maglev", "random") as fc.Arbitrary<ServicePort["algorithm"]>,
};
