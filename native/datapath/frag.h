/* Fragment tracking, as Cilium does it: only a datagram's first fragment carries the ports, so
 * when that fragment is balanced (or reverse-NATed) its ports are recorded under the datagram's
 * identity (addresses, IP id, protocol, as it arrived), and each later fragment looks them up to
 * follow the same flow. Fragments can arrive out of order: a later fragment seen before its first
 * is untracked and passes untouched (MAPLB_REASON_FRAGMENT counts them). Family-generic
 * (lb_family.h): IPv6 keys the datagram by its fragment header's 32-bit identification. */

static __always_inline void FN(frag_key_of)(FRAG_KEY *key, const struct packet *pkt,
					const FLOW *f)
{
	__builtin_memset(key, 0, sizeof(*key)); /* the padding, whatever its shape */
	key->saddr = f->saddr;
	key->daddr = f->daddr;
	key->id = FRAG_ID(pkt);
	key->proto = f->proto;
}

/* The first fragment: remember its ports. A full LRU evicts the oldest datagram. */
static __always_inline void FN(frag_record)(struct dp_env *env, const struct packet *pkt,
					const FLOW *f)
{
	FRAG_KEY key;
	FN(frag_key_of)(&key, pkt, f);
	struct lb4_frag_ports ports = { .sport = f->sport, .dport = f->dport };
	dpf_update(env, FAM_FRAGS, &key, &ports, BPF_ANY);
}

/* A later fragment: its datagram's ports into f. 0 when the first fragment was not tracked. */
static __always_inline int FN(frag_ports)(struct dp_env *env, const struct packet *pkt, FLOW *f)
{
	FRAG_KEY key;
	FN(frag_key_of)(&key, pkt, f);
	struct lb4_frag_ports *ports = dpf_lookup(env, FAM_FRAGS, &key);
	if (!ports)
		return 0;
	f->sport = ports->sport;
	f->dport = ports->dport;
	return 1;
}
