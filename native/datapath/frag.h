/* Fragment tracking, as Cilium does it: only a datagram's first fragment carries the ports, so
 * when that fragment is balanced (or reverse-NATed) its ports are recorded under the datagram's
 * identity (addresses, IP id, protocol, as it arrived), and each later fragment looks them up to
 * follow the same flow. Fragments can arrive out of order: a later fragment seen before its first
 * is untracked and passes untouched (MAPLB_REASON_FRAGMENT counts them). */
#ifndef MAPLB_FRAG_H
#define MAPLB_FRAG_H

#include "parse.h"

static __always_inline void frag_key_of(struct lb4_frag_key *key, const struct packet *pkt,
					const struct flow4 *f)
{
	key->saddr = f->saddr;
	key->daddr = f->daddr;
	key->id = pkt->ip_id;
	key->proto = f->proto;
	key->pad = 0;
}

/* The first fragment: remember its ports. A full LRU evicts the oldest datagram. */
static __always_inline void frag_record(struct dp_env *env, const struct packet *pkt,
					const struct flow4 *f)
{
	struct lb4_frag_key key;
	frag_key_of(&key, pkt, f);
	struct lb4_frag_ports ports = { .sport = f->sport, .dport = f->dport };
	dp_update(env, lb4_frags, &key, &ports, BPF_ANY);
}

/* A later fragment: its datagram's ports into f. 0 when the first fragment was not tracked. */
static __always_inline int frag_ports(struct dp_env *env, const struct packet *pkt, struct flow4 *f)
{
	struct lb4_frag_key key;
	frag_key_of(&key, pkt, f);
	struct lb4_frag_ports *ports = dp_lookup(env, lb4_frags, &key);
	if (!ports)
		return 0;
	f->sport = ports->sport;
	f->dport = ports->dport;
	return 1;
}

#endif
