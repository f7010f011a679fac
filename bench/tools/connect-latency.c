/*
 * connect-latency: the netfilter-real suite's client and server, in C so that the figures measure
 * the kernel's path (SYN out, DNAT, SYN/ACK back) and not a language runtime.
 *
 *   connect-latency serve PORT                 accept connections until killed; answer a request
 *                                              (if one comes) with a short response, then close
 *   connect-latency connect COUNT TIMEOUT_MS TARGET [TARGET...]
 *       COUNT rounds; each round connects once to every target in turn, leaving through DEV
 *       (SO_BINDTODEVICE picks the path, so several paths are measured interleaved). Prints one line
 *       per target: DEV ok failed, then the connect times in nanoseconds.
 *   connect-latency cps CPU BLOCKS PER_BLOCK TIMEOUT_MS TARGET [TARGET...]
 *       On CPU CPU (the server should run there too: one core does all the work), short
 *       connections one after another (connect, send a request, read the response, close), in
 *       BLOCKS rounds of PER_BLOCK connections to every target in turn. Prints one line per target:
 *       DEV ok failed elapsed_ns softirq_ns sys_ns, the last two being that CPU's softirq and system
 *       time during the target's blocks, from /proc/stat.
 *
 * A TARGET is DEV=IP:PORT, or DEV=IP:PORT@CGROUP: that target's sockets are made in the cgroup v2
 * directory CGROUP (a socket belongs to the cgroup of the process that creates it, and the cgroup's
 * BPF hooks run for it), by a child process that joined it and hands them over (SCM_RIGHTS). The
 * other targets' sockets are made by this process, in its own cgroup. So one interleaved run can
 * time paths with and without cgroup hooks. Every socket is made before the timing starts: connect
 * makes all COUNT x targets of them first, cps one block's before that block.
 *
 * ADDR is an IPv4 address or a bracketed IPv6 one (c0=198.18.0.2:80, c0=[2001:db8::2]:80);
 * the server listens on both families.
 *
 * Every loop is bounded: COUNT connects, each with a TIMEOUT_MS limit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 16
#define MAX_PER_BLOCK 500 /* sockets made ahead of a block, under the usual 1024 open files */
#define MAX_COUNT 10000   /* connect rounds: every socket is made (and open) before the first */
#define REQUEST "GET / HTTP/1.0\r\n\r\n"
#define RESPONSE "HTTP/1.0 200 OK\r\n\r\n"

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One target: where its sockets leave, where they connect, and who makes them. */
struct target {
	char *dev;
	struct sockaddr_storage addr;
	socklen_t len;
	int maker; /* the socket maker's end of a socketpair (its cgroup), or -1: this process */
	pid_t maker_pid;
};

static int serve(int port)
{
	int one = 1, zero = 0;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT };

	/* One listener for both families: IPv4 clients arrive as v4-mapped addresses. */
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0) {
		perror("serve");
		return 1;
	}
	for (;;) {
		/* A latency probe resets the connection at once (the read fails); a short connection
		 * sends its request and gets the response. The receive timeout bounds a silent peer. */
		struct timeval tmo = { .tv_sec = 1 };
		char buf[64];
		int c = accept(fd, NULL, NULL);
		if (c < 0)
			continue;
		if (setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo)) == 0 && read(c, buf, sizeof(buf)) > 0 &&
		    write(c, RESPONSE, sizeof(RESPONSE) - 1) < 0)
			perror("serve: write");
		close(c);
	}
}

/* Waits up to timeout_ms for `events` on fd; 0 when ready. */
static int wait_for(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	return poll(&p, 1, timeout_ms) == 1 ? 0 : -1;
}

/* A non-blocking socket of the target's family leaving through its device, that closes with RST (no
 * TIME_WAIT pile-up), or -1. */
static int client_socket(const struct target *t)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, t->dev, strlen(t->dev)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Connects fd to the target within timeout_ms; 0 on success. */
static int connect_fd(int fd, const struct target *t, int timeout_ms)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (connect(fd, (const struct sockaddr *)&t->addr, t->len) < 0 && errno != EINPROGRESS)
		return -1;
	if (wait_for(fd, POLLOUT, timeout_ms) < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
		return -1;
	return 0;
}

/* One connect of fd (then closed): returns its duration in ns, or -1 on failure or timeout. */
static long long connect_once(int fd, const struct target *t, int timeout_ms)
{
	long long t0, t1;

	if (fd < 0)
		return -1;
	t0 = now_ns();
	if (connect_fd(fd, t, timeout_ms) < 0) {
		close(fd);
		return -1;
	}
	t1 = now_ns();
	close(fd);
	return t1 - t0;
}

/* One short connection on fd: connect, request, the whole response, close; 0 on success. */
static int short_connection(int fd, const struct target *t, int timeout_ms)
{
	char buf[64];
	size_t got = 0;
	int rc = -1;

	if (fd < 0)
		return -1;
	if (connect_fd(fd, t, timeout_ms) < 0 || write(fd, REQUEST, sizeof(REQUEST) - 1) != sizeof(REQUEST) - 1)
		goto out;
	while (got < sizeof(RESPONSE) - 1) {
		ssize_t n;
		if (wait_for(fd, POLLIN, timeout_ms) < 0)
			goto out;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* The socket maker of target t: joins the cgroup and says so (0, or the errno), then for each
 * request received, a client_socket(t) sent back (SCM_RIGHTS) with 0, or no descriptor and an
 * errno. Ends when the other end closes. */
static int maker_loop(int sock, const char *cgroup, const struct target *t)
{
	char path[4096], req;
	int cg, err = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
	cg = open(path, O_WRONLY | O_CLOEXEC);
	if (cg < 0 || write(cg, "0", 1) != 1)
		err = errno;
	if (cg >= 0)
		close(cg);
	if (send(sock, &err, sizeof(err), 0) < 0 || err)
		return 1;
	while (recv(sock, &req, sizeof(req), 0) > 0) {
		int fd = client_socket(t);
		int reply = fd < 0 ? errno : 0;
		char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
		struct iovec iov = { .iov_base = &reply, .iov_len = sizeof(reply) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (fd >= 0) {
			msg.msg_control = ctl;
			msg.msg_controllen = sizeof(ctl);
			struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		if (sendmsg(sock, &msg, 0) < 0)
			return 1;
		if (fd >= 0)
			close(fd);
	}
	return 0;
}

/* Starts t's socket maker in cgroup (t parsed already: the maker makes sockets of its family);
 * 0 once it joined, else -1 (said on stderr). */
static int maker_start(struct target *t, const char *cgroup)
{
	int sv[2], joined = -1;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	t->maker_pid = fork();
	if (t->maker_pid < 0)
		return -1;
	if (t->maker_pid == 0) {
		close(sv[0]);
		_exit(maker_loop(sv[1], cgroup, t));
	}
	close(sv[1]);
	t->maker = sv[0];
	if (recv(t->maker, &joined, sizeof(joined), 0) != sizeof(joined) || joined != 0) {
		fprintf(stderr, "joining cgroup %s: %s\n", cgroup, joined > 0 ? strerror(joined) : "no answer");
		close(t->maker);
		waitpid(t->maker_pid, NULL, 0);
		t->maker = -1;
		return -1;
	}
	return 0;
}

/* A new socket for t (see client_socket), or -1 with errno set. */
static int target_socket(const struct target *t)
{
	int reply = 0, fd = -1;
	char ctl[CMSG_SPACE(sizeof(int))], req = 0;
	struct iovec iov = { .iov_base = &reply, .iov_len = sizeof(reply) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };

	if (t->maker < 0)
		return client_socket(t);
	if (send(t->maker, &req, sizeof(req), 0) < 0 || recvmsg(t->maker, &msg, 0) != sizeof(reply))
		return -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (reply == 0 && c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	errno = reply;
	return fd;
}

/* Stops the makers: all ends closed first, since a maker forked later holds copies of the earlier
 * makers' ends (an earlier maker sees its end close once the later ones have exited). */
static void targets_close(struct target *t, int n)
{
	for (int d = 0; d < n; d++)
		if (t[d].maker >= 0)
			close(t[d].maker); /* the maker's recv() returns 0: it exits */
	for (int d = 0; d < n; d++)
		if (t[d].maker >= 0)
			waitpid(t[d].maker_pid, NULL, 0);
}

/* "ADDR" (a.b.c.d or [IPv6]) and the port → t's address; 0 on success. */
static int parse_addr(char *addr, unsigned short port, struct target *t)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&t->addr;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&t->addr;
	size_t n = strlen(addr);

	memset(&t->addr, 0, sizeof(t->addr));
	if (addr[0] != '[') {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		t->len = sizeof(*a4);
		return inet_pton(AF_INET, addr, &a4->sin_addr) == 1 ? 0 : -1;
	}
	if (n < 3 || addr[n - 1] != ']')
		return -1;
	addr[n - 1] = '\0';
	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons(port);
	t->len = sizeof(*a6);
	return inet_pton(AF_INET6, addr + 1, &a6->sin6_addr) == 1 ? 0 : -1;
}

/* "DEV=ADDR:PORT[@CGROUP]" → *t (dev NUL-terminated in place; a maker started for CGROUP); 0 on
 * success. */
static int parse_target(char *arg, struct target *t)
{
	char *eq = strchr(arg, '='), *at = eq ? strchr(eq, '@') : NULL, *colon;

	t->maker = -1;
	if (at)
		*at = '\0';
	colon = strrchr(arg, ':');
	if (!eq || !colon || colon < eq)
		return -1;
	*eq = *colon = '\0';
	t->dev = arg;
	if (parse_addr(eq + 1, (unsigned short)atoi(colon + 1), t) < 0)
		return -1;
	return at ? maker_start(t, at + 1) : 0;
}

/* Parses every target; on failure, says which and stops the makers started so far. */
static int parse_targets(const char *mode, char **args, int n, struct target *t)
{
	for (int d = 0; d < n; d++) {
		char *arg = args[d];
		char shown[256];
		snprintf(shown, sizeof(shown), "%s", arg);
		if (parse_target(arg, &t[d]) < 0) {
			fprintf(stderr, "%s: bad target %s\n", mode, shown);
			targets_close(t, d);
			return -1;
		}
	}
	return 0;
}

/* Room for `n` more open files (the soft limit raised, and the hard one if need be: root). */
static int room_for_files(long n)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) < 0)
		return -1;
	if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < (rlim_t)n + 64) {
		r.rlim_cur = (rlim_t)n + 64;
		if (r.rlim_max != RLIM_INFINITY && r.rlim_max < r.rlim_cur)
			r.rlim_max = r.rlim_cur;
		return setrlimit(RLIMIT_NOFILE, &r);
	}
	return 0;
}

static int run_connects(int count, int timeout_ms, char **args, int ndev)
{
	struct target t[MAX_TARGETS];
	long long *times[MAX_TARGETS];
	int ok[MAX_TARGETS] = { 0 }, failed[MAX_TARGETS] = { 0 }, *fds;

	if (ndev < 1 || ndev > MAX_TARGETS || count < 1 || count > MAX_COUNT) {
		fprintf(stderr, "connect: bad arguments\n");
		return 2;
	}
	if (room_for_files((long)count * ndev) < 0) {
		perror("connect: RLIMIT_NOFILE");
		return 1;
	}
	if (parse_targets("connect", args, ndev, t) < 0)
		return 2;
	/* Every socket first, so that each timed connect follows the one before it, whoever made the
	 * sockets (making them in between would put the makers' work before some targets only). */
	fds = calloc((size_t)count * (size_t)ndev, sizeof(int));
	if (!fds)
		return 1;
	for (int i = 0; i < count; i++)
		for (int d = 0; d < ndev; d++)
			fds[i * ndev + d] = target_socket(&t[d]);
	targets_close(t, ndev);
	for (int d = 0; d < ndev; d++) {
		times[d] = calloc((size_t)count, sizeof(long long));
		if (!times[d])
			return 1;
	}
	for (int i = 0; i < count; i++) {
		for (int d = 0; d < ndev; d++) {
			long long ns = connect_once(fds[i * ndev + d], &t[d], timeout_ms);
			if (ns < 0)
				failed[d]++;
			else
				times[d][ok[d]++] = ns;
		}
	}
	free(fds);
	for (int d = 0; d < ndev; d++) {
		printf("%s %d %d", t[d].dev, ok[d], failed[d]);
		for (int i = 0; i < ok[d]; i++)
			printf(" %lld", times[d][i]);
		printf("\n");
		free(times[d]);
	}
	return 0;
}

/* CPU `cpu`'s softirq and system time so far, in ns (its line of /proc/stat). */
static int cpu_times(int cpu, long long *softirq_ns, long long *sys_ns)
{
	unsigned long long user, nice, sys, idle, iowait, irq, softirq;
	long hz = sysconf(_SC_CLK_TCK);
	char want[16], line[256];
	FILE *f = fopen("/proc/stat", "r");
	int found = 0;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "cpu%d ", cpu);
	while (!found && fgets(line, sizeof(line), f))
		found = strncmp(line, want, strlen(want)) == 0 &&
			sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle,
			       &iowait, &irq, &softirq) == 7;
	fclose(f);
	if (!found || hz <= 0)
		return -1;
	*softirq_ns = (long long)(softirq * 1000000000ULL / (unsigned long long)hz);
	*sys_ns = (long long)(sys * 1000000000ULL / (unsigned long long)hz);
	return 0;
}

/* One path's short connections so far. */
struct cps_total {
	int ok, failed;
	long long elapsed_ns, softirq_ns, sys_ns;
};

/* `per_block` short connections to target tg, added to *t with the block's time and CPU. */
static int cps_block(struct cps_total *t, int cpu, const struct target *tg, int per_block, int timeout_ms)
{
	long long si0, sy0, si1, sy1, t0;
	int fds[MAX_PER_BLOCK];

	for (int i = 0; i < per_block; i++)
		fds[i] = target_socket(tg);
	if (cpu_times(cpu, &si0, &sy0) < 0)
		return -1;
	t0 = now_ns();
	for (int i = 0; i < per_block; i++) {
		if (fds[i] >= 0 && short_connection(fds[i], tg, timeout_ms) == 0)
			t->ok++;
		else
			t->failed++;
	}
	t->elapsed_ns += now_ns() - t0;
	if (cpu_times(cpu, &si1, &sy1) < 0)
		return -1;
	t->softirq_ns += si1 - si0;
	t->sys_ns += sy1 - sy0;
	return 0;
}

/* On CPU `cpu`, BLOCKS rounds; in each, every target in turn gets a block of PER_BLOCK connections,
 * so that the machine's other load falls on every path alike. */
static int run_short_connections(int cpu, int blocks, int per_block, int timeout_ms, char **args, int ndev)
{
	struct target t[MAX_TARGETS];
	struct cps_total tot[MAX_TARGETS] = { 0 };
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE || blocks < 1 || per_block < 1 || per_block > MAX_PER_BLOCK || ndev < 1 ||
	    ndev > MAX_TARGETS) {
		fprintf(stderr, "cps: bad arguments\n");
		return 2;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		perror("cps: sched_setaffinity");
		return 1;
	}
	if (parse_targets("cps", args, ndev, t) < 0)
		return 2;
	for (int b = 0; b < blocks; b++)
		for (int d = 0; d < ndev; d++)
			if (cps_block(&tot[d], cpu, &t[d], per_block, timeout_ms) < 0) {
				perror("cps: /proc/stat");
				targets_close(t, ndev);
				return 1;
			}
	targets_close(t, ndev);
	for (int d = 0; d < ndev; d++)
		printf("%s %d %d %lld %lld %lld\n", t[d].dev, tot[d].ok, tot[d].failed, tot[d].elapsed_ns,
		       tot[d].softirq_ns, tot[d].sys_ns);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(atoi(argv[2]));
	if (argc >= 5 && strcmp(argv[1], "connect") == 0)
		return run_connects(atoi(argv[2]), atoi(argv[3]), argv + 4, argc - 4);
	if (argc >= 7 && strcmp(argv[1], "cps") == 0)
		return run_short_connections(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), argv + 6,
					     argc - 6);
	fprintf(stderr, "usage: connect-latency serve PORT | connect COUNT TIMEOUT_MS TARGET [TARGET...]"
			" | cps CPU BLOCKS PER_BLOCK TIMEOUT_MS TARGET [TARGET...]\n"
			"  TARGET: DEV=ADDR:PORT, or DEV=ADDR:PORT@CGROUP (its sockets made in that cgroup v2);"
			" ADDR: a.b.c.d or [IPv6 address]\n");
	return 2;
}
