/* Socket-level LB's decision, family-generic: compiled once per family by sock.h, which names
 * the family's socket types and reverse map (SOCK, SOCK_KEY, SOCK_REVNAT, FAM_REVERSE_SK) after
 * family.h named the rest. The IPv4 instance is sock4_*, the IPv6 one sock6_*. No guard. */

/* What the application asked for, and who asks. The caller fills `cookie`, `saddr` and `client`
 * only once SOCK(frontend) found a frontend: on the hooks' side they are helper calls, and a
 * connect() that is not for a Service (most of them) should not pay for them. */
struct SOCK(req) {
	__u64 cookie; /* the socket's cookie: the reverse entry's key, and the hash's "port" */
	ADDR saddr;   /* the socket's source address; zero when not bound yet */
	ADDR client;  /* affinity and hash identity when saddr is zero (the BPF side: netns cookie) */
	ADDR daddr;   /* the destination the application gave */
	__be16 dport;
	__u8 proto;   /* IPPROTO_TCP / IPPROTO_UDP */
};

/* The translation's answer besides its return value. */
struct SOCK(choice) {
	ADDR addr; /* the backend */
	__be16 port;
	__u32 backend_id;
	__u32 rev_nat_id;
};

/* The flow the pipeline's helpers see for this socket. */
static __always_inline void SOCK(flow)(FLOW *f, const struct SOCK(req) *req)
{
	f->saddr = ADDR_IS_ZERO(req->saddr) ? req->client : req->saddr;
	f->daddr = req->daddr;
	f->sport = (__be16)(req->cookie ^ (req->cookie >> 16) ^ (req->cookie >> 32));
	f->dport = req->dport;
	f->proto = req->proto;
}

/* The frontend's master for req's destination (daddr, dport, proto: the rest of req is not read
 * yet), with *key set for SOCK(xlate); 0 when the destination is no frontend. */
static __always_inline struct lb4_service *SOCK(frontend)(struct dp_env *env,
							  const struct SOCK(req) *req, SVC_KEY *key)
{
	FLOW f = { .daddr = req->daddr, .dport = req->dport, .proto = req->proto };
	return FN(svc_lookup_master)(env, &f, key);
}

/* The reverse entry that lets recvmsg() and getpeername() show the frontend. A TCP socket connects
 * once, under a cookie no entry has yet, so its entry is written straight away. A UDP socket may
 * connect() again, and sendmsg() runs per datagram: it rewrites its entry only when it changed
 * (as Cilium's sock4_update_revnat does), since an LRU update costs far more than a lookup. */
static __always_inline void SOCK(remember)(struct dp_env *env, const struct SOCK(req) *req,
					   const SOCK_KEY *rkey, const SOCK_REVNAT *rev)
{
	if (req->proto == IPPROTO_UDP) {
		const SOCK_REVNAT *had = dpf_lookup(env, FAM_REVERSE_SK, rkey);
		if (had && ADDR_EQ(had->address, rev->address) && had->port == rev->port &&
		    had->rev_nat_id == rev->rev_nat_id)
			return;
	}
	dpf_update(env, FAM_REVERSE_SK, rkey, rev, BPF_ANY);
}

/* For the frontend SOCK(frontend) found (master, key): 1: translated (*out filled, reverse entry
 * written); 0: left to the per-packet path; -EPERM: the bound source is outside the frontend's
 * source ranges; -ECONNREFUSED: the frontend has no backend to give (the application sees it at
 * connect(), as with Cilium). */
static __always_inline int SOCK(xlate)(struct dp_env *env, const struct SOCK(req) *req,
				       SVC_KEY *key, struct lb4_service *master,
				       struct SOCK(choice) *out)
{
	FLOW f;
	SOCK(flow)(&f, req);
	master = FN(svc_scope)(env, key, master, 1);
	if (master->flags & MAPLB_SVC_SOURCE_RANGE) {
		if (ADDR_IS_ZERO(req->saddr))
			return 0; /* source unknown until routing: the per-packet path checks it */
		if (!FN(svc_source_allowed)(env, master, req->saddr))
			return -EPERM;
	}
	if (master->count == 0)
		return -ECONNREFUSED;
	__u32 zero = 0;
	const struct maplb_config *cfg = dp_lookup(env, maplb_config, &zero);
	__u32 id = 0;
	BACKEND *backend = FN(choose_backend)(env, cfg, master, key, &f, &id);
	if (!backend)
		return -ECONNREFUSED;
	out->addr = backend->address;
	out->port = backend->port;
	out->backend_id = id;
	out->rev_nat_id = master->rev_nat_id;

	SOCK_KEY rkey = { .cookie = req->cookie, .address = backend->address, .port = backend->port };
	SOCK_REVNAT rev = { .address = req->daddr, .port = req->dport,
			    .rev_nat_id = master->rev_nat_id };
	SOCK(remember)(env, req, &rkey, &rev);
	return 1;
}

/* recvmsg()/getpeername(): the frontend the socket asked for when it talks to addr:port, 1 when
 * there is one (*addr, *port rewritten), 0 otherwise. An entry whose frontend is gone is dropped. */
static __always_inline int SOCK(xlate_rev)(struct dp_env *env, __u64 cookie, ADDR *addr,
					   __be16 *port)
{
	SOCK_KEY rkey = { .cookie = cookie, .address = *addr, .port = *port };
	SOCK_REVNAT *rev = dpf_lookup(env, FAM_REVERSE_SK, &rkey);
	if (!rev)
		return 0;
	if (!dpf_lookup(env, FAM_REVNAT, &rev->rev_nat_id)) {
		dpf_delete(env, FAM_REVERSE_SK, &rkey);
		return 0;
	}
	*addr = rev->address;
	*port = rev->port;
	return 1;
}
