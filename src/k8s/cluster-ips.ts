// A Service's dual-stack fields, clusterIP, clusterIPs, ipFamilies and ipFamilyPolicy, checked as the
// API server checks a Service it is asked to create: ValidateService and
// ValidateServiceClusterIPsRelatedFields (pkg/apis/core/validation/validation.go), and the checks its
// allocator makes before assigning addresses (initIPFamilyFields, pkg/registry/core/service/storage/
// alloc.go). Which families the cluster serves ("IPv6 is not configured on this cluster",
// RequireDualStack on a single-stack cluster) is the cluster's configuration, which maplb does not
// know, as it does not know the NodePort range; so RequireDualStack adds no rule here: two cluster
// IPs must be of two families, and two families must differ, whatever the policy.
import { IP_FAMILIES } from "../model/types.js";
import { Checker, isRecord, type Raw } from "./checker.js";
import { ipFamily, ipProblem } from "./ip-forms.js";

export const IP_FAMILY_POLICIES = ["SingleStack", "PreferDualStack", "RequireDualStack"] as const;

/** A cluster IP as the manifest holds it, and the path to report it at. */
interface ClusterIP {
  value: unknown;
  path: string;
}

/** The fields as read, before any rule. */
interface Fields {
  clusterIP: string;
  listed: unknown[];
  families: unknown[];
  policySet: boolean;
}

export function checkClusterIPs(c: Checker, spec: Raw, type: string | undefined): void {
  const start = c.issues.length;
  const f: Fields = {
    clusterIP: c.string(spec, "clusterIP", "spec.clusterIP") ?? "",
    listed: c.array(spec, "clusterIPs", "spec.clusterIPs"),
    families: c.array(spec, "ipFamilies", "spec.ipFamilies"),
    policySet: spec.ipFamilyPolicy !== undefined && spec.ipFamilyPolicy !== null,
  };
  if (c.issues.length > start) return; // a field of the wrong type: the rules below would only repeat it
  if (type === "ExternalName") return externalName(c, spec, f);
  // On create the API server's strategy (NormalizeClusterIPs) makes a lone clusterIP the list
  // [clusterIP]; its problems are reported at spec.clusterIP, the field the manifest holds.
  const ips: ClusterIP[] =
    f.listed.length === 0 && f.clusterIP !== ""
      ? [{ value: f.clusterIP, path: "spec.clusterIP" }]
      : f.listed.map((value, i) => ({ value, path: `spec.clusterIPs[${i}]` }));
  const policy = c.oneOf(spec, "ipFamilyPolicy", "spec.ipFamilyPolicy", IP_FAMILY_POLICIES);
  checkFamilies(c, f.families);
  if (checkAddresses(c, spec, f)) checkDualStack(c, spec, f, ips);
  // initIPFamilyFields runs these only once the fields above are valid.
  if (c.issues.length === start) checkPolicy(c, spec, f, policy);
  const headless = ips.length === 1 && ips[0]!.value === "None";
  if (headless && (type === "NodePort" || type === "LoadBalancer"))
    c.fail(ips[0]!.path, "None", `may not be set to 'None' for ${type} services`);
}

/** An ExternalName Service is a DNS alias: ValidateService refuses cluster IPs and families on it. */
function externalName(c: Checker, spec: Raw, f: Fields): void {
  const forbidden = "may not be set for ExternalName services";
  // (The strategy makes a lone clusterIP the list, so the API server refuses that too.)
  if (f.listed.length > 0) c.fail("spec.clusterIPs", spec.clusterIPs, forbidden);
  else if (f.clusterIP !== "") c.fail("spec.clusterIP", f.clusterIP, forbidden);
  if (f.families.length > 0) c.fail("spec.ipFamilies", spec.ipFamilies, forbidden);
  if (f.policySet) c.fail("spec.ipFamilyPolicy", spec.ipFamilyPolicy, forbidden);
}

/** Each of IPv4 and IPv6 at most once (so at most two). */
function checkFamilies(c: Checker, families: unknown[]): void {
  const seen = new Set<unknown>();
  families.forEach((family, i) => {
    const path = `spec.ipFamilies[${i}]`;
    if (!(IP_FAMILIES as readonly unknown[]).includes(family))
      c.fail(path, family, `must be one of ${IP_FAMILIES.join(", ")}`);
    if (seen.has(family)) c.fail(path, family, "duplicate value (each family may be listed once)");
    seen.add(family);
  });
}

/**
 * clusterIP and clusterIPs agree, and every address is valid ("None", headless, only alone and
 * first). False when an address is bad: the API server then stops, as its family checks would
 * only name the same address again.
 */
function checkAddresses(c: Checker, spec: Raw, f: Fields): boolean {
  const { clusterIP, listed } = f;
  if (clusterIP !== "" && listed.length > 0 && listed[0] !== clusterIP)
    c.fail("spec.clusterIPs", spec.clusterIPs, "first value must match `clusterIP`");
  if (clusterIP === "" && listed.length > 0)
    c.fail("spec.clusterIPs", spec.clusterIPs, "must be empty when `clusterIP` is not specified");
  let valid = true;
  const invalid = (path: string, value: unknown, problem: string) => {
    c.fail(path, value, problem);
    valid = false;
  };
  const check = (value: unknown, path: string) => {
    const problem = ipProblem(value);
    if (problem) invalid(path, value, problem);
  };
  if (clusterIP !== "" && clusterIP !== "None") check(clusterIP, "spec.clusterIP");
  listed.forEach((ip, i) => {
    if (i === 0 && ip === "None") {
      if (listed.length > 1)
        invalid("spec.clusterIPs", spec.clusterIPs, "'None' must be the first and only value");
    } else if (!(i === 0 && ip === clusterIP)) check(ip, `spec.clusterIPs[${i}]`); // else checked as clusterIP
  });
  if (listed.length > 2) c.fail("spec.clusterIPs", spec.clusterIPs, "may only hold up to 2 values");
  return valid;
}

/** Two cluster IPs are one of each family; each matches the family listed at its index. */
function checkDualStack(c: Checker, spec: Raw, f: Fields, ips: ClusterIP[]): void {
  const familyOf = (ip: ClusterIP) => ipFamily(ip.value as string);
  if (ips.length > 2 || (ips.length === 2 && familyOf(ips[0]!) === familyOf(ips[1]!)))
    c.fail("spec.clusterIPs", spec.clusterIPs, "may specify no more than one IP for each IP family");
  if (ips.length === 1 && ips[0]!.value === "None") return; // headless: no address to match
  ips.slice(0, f.families.length).forEach((ip, i) => {
    const want = f.families[i];
    if ((want === "IPv4" || want === "IPv6") && familyOf(ip) !== want)
      c.fail(ip.path, ip.value, `expected an ${want} value as indicated by \`ipFamilies[${i}]\``);
  });
}

/**
 * SingleStack allows one family. An unset policy is SingleStack, except on a headless Service
 * without a selector, where it is RequireDualStack (initIPFamilyFields).
 */
function checkPolicy(c: Checker, spec: Raw, f: Fields, policy: string | undefined): void {
  const selectorless = !isRecord(spec.selector) || Object.keys(spec.selector).length === 0;
  const headlessSelectorless = f.clusterIP === "None" && selectorless;
  const effective = policy ?? (headlessSelectorless ? "RequireDualStack" : "SingleStack");
  if (effective !== "SingleStack") return;
  const unset = policy === undefined ? " (unset, it is SingleStack)" : "";
  const must = "must be 'RequireDualStack' or 'PreferDualStack' when multiple";
  if (f.listed.length === 2)
    c.fail("spec.ipFamilyPolicy", spec.ipFamilyPolicy, `${must} cluster IPs are specified${unset}`);
  if (f.families.length === 2)
    c.fail("spec.ipFamilyPolicy", spec.ipFamilyPolicy, `${must} IP families are specified${unset}`);
}
