/*
 * udp-connect: the cost of one connect() on a UDP socket, which sends nothing: the syscall, the
 * route lookup and whatever cgroup/connect4 program runs. The socket-LB measure runs it inside and
 * outside a cgroup with maplb's hooks, so the difference is the hook's translation.
 *
 *   udp-connect COUNT IP PORT     COUNT connect()s of one socket to IP:PORT; prints ns per call
 *
 * Bounded: COUNT calls, no traffic. Exits 1 when a connect() fails (errno on stderr).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: udp-connect COUNT IP PORT\n");
		return 2;
	}
	long count = strtol(argv[1], NULL, 10);
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3])) };
	if (count <= 0 || count > 100000000 || inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1) {
		fprintf(stderr, "udp-connect: bad COUNT or IP\n");
		return 2;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		fprintf(stderr, "udp-connect: socket: %s\n", strerror(errno));
		return 1;
	}
	long long start = now_ns();
	for (long i = 0; i < count; i++) {
		if (connect(fd, (const struct sockaddr *)&dst, sizeof(dst)) < 0) {
			fprintf(stderr, "udp-connect: connect: %s\n", strerror(errno));
			return 1;
		}
	}
	printf("%.1f\n", (double)(now_ns() - start) / (double)count);
	close(fd);
	return 0;
}
