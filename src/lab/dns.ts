// The lab's cluster DNS, like CoreDNS's kubernetes plugin reduced to A records: `<svc>.<ns>.svc.cluster.local`
// answers the Service's ClusterIP. Pods find short names through their resolv.conf search path
// (`nginx-svc` → nginx-svc.default.svc.cluster.local, `nginx.nginx` → nginx.nginx.svc.cluster.local).
// Nothing is forwarded: a name the lab does not know is NXDOMAIN, so no query ever leaves the lab.
import * as dnsPacket from "dns-packet";

const NXDOMAIN = 3;
const TTL_SECONDS = 5;

/** The answer to one query packet, from `records` (lower-case FQDN without the trailing dot → IPv4). */
export function answerDns(query: dnsPacket.Packet, records: Record<string, string>): dnsPacket.Packet {
  const answers: dnsPacket.Answer[] = [];
  let known = true;
  for (const q of query.questions ?? []) {
    const name = q.name.toLowerCase().replace(/\.$/, "");
    const ip = records[name];
    if (ip === undefined) known = false;
    else if (q.type === "A") answers.push({ type: "A", name: q.name, ttl: TTL_SECONDS, data: ip });
    // Another type for a known name (AAAA, …): NOERROR with no answers, so resolvers keep the A.
  }
  return {
    type: "response",
    id: query.id ?? 0,
    flags:
      dnsPacket.AUTHORITATIVE_ANSWER |
      ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) |
      (known ? 0 : NXDOMAIN),
    questions: query.questions ?? [],
    answers,
  };
}
