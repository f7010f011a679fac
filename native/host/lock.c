/* One writer at a time on a pin directory: flock(2) on a lock file, with a bounded wait.
 * Node has no flock, hence this helper. flock and not an O_EXCL file: the kernel drops the lock
 * when its holder dies, however it dies, so a killed `maplb apply` never leaves a stale lock. */
#include "maplb_api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static __u64 now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

/* The pid the holder wrote into the file, or 0 (none written yet, or not a number). */
static int holder_of(int fd)
{
	char buf[16];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	long pid = strtol(buf, NULL, 10);
	return pid > 0 && pid < (1L << 22) ? (int)pid : 0;
}

/* Whether fd is still the file at path: the holder before us may have unlinked it on release. */
static int still_linked(int fd, const char *path)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* For a waiter's error message only: the lock itself is the flock, not this number. */
static int write_pid(int fd)
{
	char pid[16];
	errno = 0;
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		int err = errno ? errno : EIO;
		close(fd);
		return -err;
	}
	return fd;
}

int maplb_lock_file(const char *path, __u32 timeout_ms, int *holder_pid)
{
	__u64 deadline = now_ms() + timeout_ms;
	*holder_pid = 0;
	for (;;) {
		/* O_CLOEXEC: a child the holder spawns (ip, nsenter) must not inherit, and so keep, the lock. */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		int err = 0;
		while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			err = errno;
			if (err == EINTR)
				continue;
			if (err != EWOULDBLOCK || now_ms() >= deadline)
				break;
			struct timespec pause = { .tv_sec = 0, .tv_nsec = 20 * 1000000 };
			nanosleep(&pause, NULL);
			err = 0;
		}
		if (err) {
			if (err == EWOULDBLOCK)
				*holder_pid = holder_of(fd);
			close(fd);
			return -err;
		}
		if (still_linked(fd, path))
			return write_pid(fd);
		close(fd); /* locked a file its holder unlinked on release: lock the new one */
	}
}

int maplb_unlock_file(const char *path, int fd)
{
	/* Unlinked while still locked, so no file is left behind per pin dir; a waiter that opened
	 * the old file notices (still_linked) and opens the new one. */
	int err = unlink(path) && errno != ENOENT ? -errno : 0;
	return close(fd) ? -errno : err;
}
