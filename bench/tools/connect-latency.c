/*
 * connect-latency: the netfilter-real suite's client and server, in C so that the figures measure
 * the kernel's path (SYN out, DNAT, SYN/ACK back) and not a language runtime.
 *
 *   connect-latency serve PORT                 accept and close connections until killed
 *   connect-latency connect COUNT TIMEOUT_MS DEV=IP:PORT [DEV=IP:PORT...]
 *       COUNT rounds; each round connects once to every target in turn, leaving through DEV
 *       (SO_BINDTODEVICE picks the path, so several paths are measured interleaved). Prints one line
 *       per target: DEV ok failed, then the connect times in nanoseconds.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEVS 8

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int serve(int port)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = INADDR_ANY };

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0) {
		perror("serve");
		return 1;
	}
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c >= 0)
			close(c);
	}
}

/* One connect: returns its duration in ns, or -1 on failure or timeout. */
static long long connect_once(const struct sockaddr_in *dst, const char *dev, int timeout_ms)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 }; /* close with RST: no TIME_WAIT pile-up */
	struct pollfd p;
	long long t0, t1;
	int err = 0;
	socklen_t len = sizeof(err);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, strlen(dev)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0) {
		close(fd);
		return -1;
	}
	t0 = now_ns();
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		close(fd);
		return -1;
	}
	t1 = now_ns();
	close(fd);
	return t1 - t0;
}

/* "DEV=IP:PORT" → dev (NUL-terminated in place) and address; 0 on success. */
static int parse_target(char *arg, char **dev, struct sockaddr_in *dst)
{
	char *eq = strchr(arg, '='), *colon = strrchr(arg, ':');

	if (!eq || !colon || colon < eq)
		return -1;
	*eq = *colon = '\0';
	*dev = arg;
	dst->sin_family = AF_INET;
	dst->sin_port = htons((unsigned short)atoi(colon + 1));
	return inet_pton(AF_INET, eq + 1, &dst->sin_addr) == 1 ? 0 : -1;
}

static int run_connects(int count, int timeout_ms, char **targets, int ndev)
{
	struct sockaddr_in dst[MAX_DEVS];
	char *devs[MAX_DEVS];
	long long *times[MAX_DEVS];
	int ok[MAX_DEVS] = { 0 }, failed[MAX_DEVS] = { 0 };

	if (ndev < 1 || ndev > MAX_DEVS || count < 1) {
		fprintf(stderr, "connect: bad arguments\n");
		return 2;
	}
	for (int d = 0; d < ndev; d++) {
		if (parse_target(targets[d], &devs[d], &dst[d]) < 0) {
			fprintf(stderr, "connect: bad target %s\n", targets[d]);
			return 2;
		}
		times[d] = calloc((size_t)count, sizeof(long long));
		if (!times[d])
			return 1;
	}
	for (int i = 0; i < count; i++) {
		for (int d = 0; d < ndev; d++) {
			long long t = connect_once(&dst[d], devs[d], timeout_ms);
			if (t < 0)
				failed[d]++;
			else
				times[d][ok[d]++] = t;
		}
	}
	for (int d = 0; d < ndev; d++) {
		printf("%s %d %d", devs[d], ok[d], failed[d]);
		for (int i = 0; i < ok[d]; i++)
			printf(" %lld", times[d][i]);
		printf("\n");
		free(times[d]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(atoi(argv[2]));
	if (argc >= 5 && strcmp(argv[1], "connect") == 0)
		return run_connects(atoi(argv[2]), atoi(argv[3]), argv + 4, argc - 4);
	fprintf(stderr, "usage: connect-latency serve PORT | connect COUNT TIMEOUT_MS DEV=IP:PORT [DEV=IP:PORT...]\n");
	return 2;
}
