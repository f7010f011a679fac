/*
 * connect-latency: the netfilter-real suite's client and server, in C so that the figures measure
 * the kernel's path (SYN out, DNAT, SYN/ACK back) and not a language runtime.
 *
 *   connect-latency serve PORT                 accept connections until killed; answer a request
 *                                              (if one comes) with a short response, then close
 *   connect-latency connect COUNT TIMEOUT_MS DEV=ADDR:PORT [DEV=ADDR:PORT...]
 *       COUNT rounds; each round connects once to every target in turn, leaving through DEV
 *       (SO_BINDTODEVICE picks the path, so several paths are measured interleaved). Prints one line
 *       per target: DEV ok failed, then the connect times in nanoseconds.
 *   connect-latency cps CPU BLOCKS PER_BLOCK TIMEOUT_MS DEV=ADDR:PORT [DEV=ADDR:PORT...]
 *       On CPU CPU (the server should run there too: one core does all the work), short
 *       connections one after another (connect, send a request, read the response, close), in
 *       BLOCKS rounds of PER_BLOCK connections to every target in turn. Prints one line per target:
 *       DEV ok failed elapsed_ns softirq_ns sys_ns, the last two being that CPU's softirq and system
 *       time during the target's blocks, from /proc/stat.
 *
 * ADDR is an IPv4 address or a bracketed IPv6 one (c0=198.18.0.2:80, c0=[2001:db8::2]:80); the
 * server listens on both families. Every loop is bounded: COUNT connects, each with a TIMEOUT_MS limit.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 16
#define REQUEST "GET / HTTP/1.0\r\n\r\n"
#define RESPONSE "HTTP/1.0 200 OK\r\n\r\n"

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Where one series of connects goes: the device it leaves through and the address:port. */
struct target {
	char *dev;
	struct sockaddr_storage addr;
	socklen_t len;
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

/* One connect: returns its duration in ns, or -1 on failure or timeout. */
static long long connect_once(const struct target *t, int timeout_ms)
{
	long long t0, t1;
	int fd = client_socket(t);

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

/* One short connection: connect, request, the whole response, close; 0 on success. */
static int short_connection(const struct target *t, int timeout_ms)
{
	char buf[64];
	size_t got = 0;
	int fd = client_socket(t), rc = -1;

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

/* "DEV=IPV4:PORT" or "DEV=[IPV6]:PORT" → the target (dev NUL-terminated in place); 0 on success. */
static int parse_target(char *arg, struct target *t)
{
	char *eq = strchr(arg, '='), *colon = strrchr(arg, ':'), *addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&t->addr;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&t->addr;
	unsigned short port;
	size_t n;

	if (!eq || !colon || colon < eq)
		return -1;
	*eq = *colon = '\0';
	t->dev = arg;
	addr = eq + 1;
	port = htons((unsigned short)atoi(colon + 1));
	memset(&t->addr, 0, sizeof(t->addr));
	if (addr[0] != '[') {
		a4->sin_family = AF_INET;
		a4->sin_port = port;
		t->len = sizeof(*a4);
		return inet_pton(AF_INET, addr, &a4->sin_addr) == 1 ? 0 : -1;
	}
	n = strlen(addr);
	if (n < 3 || addr[n - 1] != ']')
		return -1;
	addr[n - 1] = '\0';
	a6->sin6_family = AF_INET6;
	a6->sin6_port = port;
	t->len = sizeof(*a6);
	return inet_pton(AF_INET6, addr + 1, &a6->sin6_addr) == 1 ? 0 : -1;
}

static int run_connects(int count, int timeout_ms, char **targets, int ndev)
{
	struct target dst[MAX_TARGETS];
	long long *times[MAX_TARGETS];
	int ok[MAX_TARGETS] = { 0 }, failed[MAX_TARGETS] = { 0 };

	if (ndev < 1 || ndev > MAX_TARGETS || count < 1) {
		fprintf(stderr, "connect: bad arguments\n");
		return 2;
	}
	for (int d = 0; d < ndev; d++) {
		if (parse_target(targets[d], &dst[d]) < 0) {
			fprintf(stderr, "connect: bad target %s\n", targets[d]);
			return 2;
		}
		times[d] = calloc((size_t)count, sizeof(long long));
		if (!times[d])
			return 1;
	}
	for (int i = 0; i < count; i++) {
		for (int d = 0; d < ndev; d++) {
			long long t = connect_once(&dst[d], timeout_ms);
			if (t < 0)
				failed[d]++;
			else
				times[d][ok[d]++] = t;
		}
	}
	for (int d = 0; d < ndev; d++) {
		printf("%s %d %d", dst[d].dev, ok[d], failed[d]);
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

/* `per_block` short connections to one target, added to *t with the block's time and CPU. */
static int cps_block(struct cps_total *t, int cpu, const struct target *dst, int per_block, int timeout_ms)
{
	long long si0, sy0, si1, sy1, t0;

	if (cpu_times(cpu, &si0, &sy0) < 0)
		return -1;
	t0 = now_ns();
	for (int i = 0; i < per_block; i++) {
		if (short_connection(dst, timeout_ms) == 0)
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
static int run_short_connections(int cpu, int blocks, int per_block, int timeout_ms, char **targets, int ndev)
{
	struct target dst[MAX_TARGETS];
	struct cps_total tot[MAX_TARGETS] = { 0 };
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE || blocks < 1 || per_block < 1 || ndev < 1 || ndev > MAX_TARGETS) {
		fprintf(stderr, "cps: bad arguments\n");
		return 2;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		perror("cps: sched_setaffinity");
		return 1;
	}
	for (int d = 0; d < ndev; d++)
		if (parse_target(targets[d], &dst[d]) < 0) {
			fprintf(stderr, "cps: bad target %s\n", targets[d]);
			return 2;
		}
	for (int b = 0; b < blocks; b++)
		for (int d = 0; d < ndev; d++)
			if (cps_block(&tot[d], cpu, &dst[d], per_block, timeout_ms) < 0) {
				perror("cps: /proc/stat");
				return 1;
			}
	for (int d = 0; d < ndev; d++)
		printf("%s %d %d %lld %lld %lld\n", dst[d].dev, tot[d].ok, tot[d].failed, tot[d].elapsed_ns,
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
	fprintf(stderr, "usage: connect-latency serve PORT | connect COUNT TIMEOUT_MS DEV=ADDR:PORT [DEV=ADDR:PORT...]"
			" | cps CPU BLOCKS PER_BLOCK TIMEOUT_MS DEV=ADDR:PORT [DEV=ADDR:PORT...]"
			" (ADDR: a.b.c.d or [IPv6 address])\n");
	return 2;
}
