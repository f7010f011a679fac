// Synthetic clusters for the benchmark: S ClusterIP services with E ready endpoints each, built
// straight into the ServiceModel (no YAML round trip, so 100k services build in well under a second).
// IPv4 addresses come from 198.18.0.0/15: service IPs from 198.19.0.0/16, pod IPs from 198.18.128.0/17.
// Past 65,536 services (or 32,768 pods) the port number changes instead, so every frontend and every
// backend stays a distinct ip:port. IPv6 models take theirs from 2001:db8::/32 (the documentation
// range, which the router lab also carries for real inside its own namespaces): service i at
// 2001:db8:19::(i+1), pod n at 2001:db8:18:8000::(n+1), 2^32 of each, so the port never changes.
import {
  DEFAULT_MAGLEV_TABLE_SIZE,
  type Endpoint,
  type IpFamily,
  type LbAlgorithm,
  type ServiceModel,
} from "../src/model/types.js";
import { byEndpointString } from "../src/model/endpoints.js";
import { newServicePort } from "../src/model/service-port.js";
import type { Cell } from "./types.js";
import { bigIntToIpv6, intToIpv4, ipv4ToInt, ipv6ToBigInt } from "../src/util/ip.js";

export const SERVICE_BASE = ipv4ToInt("198.19.0.0");
export const POD_BASE = ipv4ToInt("198.18.128.0");
const SERVICE_SPACE = 1 << 16;
const POD_SPACE = 1 << 15;
export const SERVICE_PORT = 80;
export const POD_PORT = 8080;
/** The IPv6 ranges: a /64 each, of which the last 32 bits are used. */
export const SERVICE_PREFIX6 = "2001:db8:19::/64";
export const POD_PREFIX6 = "2001:db8:18:8000::/64";
const SERVICE_BASE6 = ipv6ToBigInt("2001:db8:19::");
const POD_BASE6 = ipv6ToBigInt("2001:db8:18:8000::");

/** The address `n + 1` past `base`, in RFC 5952 text as the API server and `ip6tables -S` print it
 * (the `+ 1` keeps clear of the all-zeros interface id). */
const nthAddress6 = (base: bigint, n: number) => bigIntToIpv6(base + BigInt(n + 1));

export interface SyntheticOptions {
  services: number;
  endpointsPerService: number;
  algorithm?: LbAlgorithm;
  maglevTableSize?: number;
  nodeName?: string;
  /** The family of every address in the model (default IPv4). */
  family?: IpFamily;
}

/** Zero-padded, so that name order is index order and the last service is the last rule in KUBE-SERVICES. */
export function serviceName(i: number): string {
  return `svc-${String(i).padStart(6, "0")}`;
}

export function serviceFrontend(i: number, family: IpFamily = "IPv4"): { ip: string; port: number } {
  if (family === "IPv6") return { ip: nthAddress6(SERVICE_BASE6, i), port: SERVICE_PORT };
  return {
    ip: intToIpv4(SERVICE_BASE + (i % SERVICE_SPACE)),
    port: SERVICE_PORT + Math.floor(i / SERVICE_SPACE),
  };
}

export function podAddress(n: number, family: IpFamily = "IPv4"): { ip: string; port: number } {
  if (family === "IPv6") return { ip: nthAddress6(POD_BASE6, n), port: POD_PORT };
  return { ip: intToIpv4(POD_BASE + (n % POD_SPACE)), port: POD_PORT + Math.floor(n / POD_SPACE) };
}

export function syntheticModel(o: SyntheticOptions): ServiceModel {
  const ports = [];
  for (let i = 0; i < o.services; i++) {
    const name = serviceName(i);
    const fe = serviceFrontend(i, o.family);
    const endpoints: Endpoint[] = [];
    for (let j = 0; j < o.endpointsPerService; j++) {
      const pod = podAddress(i * o.endpointsPerService + j, o.family);
      endpoints.push({
        ip: pod.ip,
        port: pod.port,
        nodeName: o.nodeName ?? "node",
        zone: null,
        ready: true,
        serving: true,
        terminating: false,
        targetName: `${name}-${j}`,
      });
    }
    endpoints.sort(byEndpointString);
    ports.push(
      newServicePort(
        {
          namespace: "bench",
          name,
          portName: "",
          protocol: "TCP",
          port: fe.port,
          clusterIP: fe.ip,
          endpoints,
        },
        {
          algorithm: o.algorithm ?? "maglev",
          maglevTableSize: o.maglevTableSize ?? DEFAULT_MAGLEV_TABLE_SIZE,
        },
      ),
    );
  }
  return { ports };
}

/**
 * The datapath grid: S services at 10 endpoints each, and E endpoints per service at 1k services.
 * `secondsPerMillion` scales the time-left estimate with the state's size.
 */
export function datapathGrid(services: number[], endpoints: number[], secondsPerMillion: number): Cell[] {
  const cells = services.map((s) => ({ services: s, endpointsPerService: 10 }));
  for (const e of endpoints) if (e !== 10) cells.push({ services: 1000, endpointsPerService: e });
  return cells.map((c) => ({
    ...c,
    label: `S=${c.services} E=${c.endpointsPerService}`,
    estimateSeconds: 1 + (c.services * c.endpointsPerService * secondsPerMillion) / 1e6,
  }));
}
