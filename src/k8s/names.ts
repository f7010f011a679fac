// Kubernetes' name rules (k8s.io/apimachinery/pkg/util/validation), as the API server applies them.
// Names end up in chain names, comments and log lines, so a name the API server would refuse is
// refused here too: it cannot carry a quote, a newline or a space into a rule.
// Each check returns null for a good value, or what is wrong with it, in the API server's words.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export type NameRule = (value: string) => string | null;

const tooLong = (value: string, max: number) =>
  value.length > max ? `must be no more than ${max} characters` : null;

/** Namespaces, port names (Service and EndpointSlice): RFC 1123 label. */
export const dns1123Label: NameRule = (v) =>
  tooLong(v, 63) ??
  (DNS1123_LABEL.test(v)
    ? null
    : "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit");

/** EndpointSlice and Endpoints names: RFC 1123 subdomain. */
export const dns1123Subdomain: NameRule = (v) =>
  tooLong(v, 253) ??
  (DNS1123_SUBDOMAIN.test(v)
    ? null
    : "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit");

/** Service names: RFC 1035 label (a DNS name of its own, so it must start with a letter). */
export const dns1035Label: NameRule = (v) =>
  tooLong(v, 63) ??
  (DNS1035_LABEL.test(v)
    ? null
    : "must be a DNS-1035 label: lower-case letters, digits and '-', starting with a letter and ending with a letter or digit");

/** A port referred to by name (targetPort): IANA_SVC_NAME, RFC 6335 §5.1. */
export const ianaSvcName: NameRule = (v) => {
  if (v.length > 15) return "must be no more than 15 characters";
  if (!/^[-a-z0-9]+$/.test(v)) return "must contain only lower-case letters, digits and '-'";
  if (!/[a-z]/.test(v)) return "must contain at least one letter";
  if (v.includes("--")) return "must not contain consecutive hyphens";
  if (v.startsWith("-") || v.endsWith("-")) return "must not begin or end with a hyphen";
  return null;
};

/** A label value: at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric (or empty). */
export const labelValue: NameRule = (v) =>
  tooLong(v, 63) ??
  (LABEL_VALUE.test(v)
    ? null
    : "must be a label value: letters, digits, '-', '_' and '.', starting and ending with a letter or digit");
