// read_anchor: the practical floor for 4 KiB page-cache reads. liburing
// IORING_OP_READ serial (1 read per submit-and-wait) and batched (64 per
// submit-and-wait), and plain pread(2), at random 4 KiB-aligned offsets of
// a file that is already in the page cache. The ring is set up like
// uringd's (SINGLE_ISSUER|DEFER_TASKRUN, falling back to no flags) with a
// registered ring fd, as bench/ring's uringd rows.
//
// Output is in Go benchmark format with the names bench/ring uses:
//
//   BenchmarkRead4KPageCache/liburing/serial   1000000   1600.0 ns/op ...
//
// The file and the offsets are made exactly as bench/ring makes them: 64 MiB
// of the same 8-byte pattern (patternWord), written in 1 MiB chunks and read
// back once to warm the page cache, and the same xorshift64 sequence of
// block offsets, so both read the same blocks of an identical file.
//
// Usage: read_anchor FILE [count]   (FILE is created and removed; count default 1)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ENTRIES 256
#define BATCH 64
#define BLOCK 4096
#define OPS 1000000L
#define NOFFS 16384 /* power of two */
#define FILESIZE (64L << 20)
#define CHUNK (1 << 20)

static char bufs[BATCH * BLOCK] __attribute__((aligned(BLOCK)));
static long offs[NOFFS];

static double now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void die(const char *what, int err) {
	fprintf(stderr, "read_anchor: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

// pattern_word is the 8-byte word at byte offset off of the file, as
// patternWord in bench/ring.
static uint64_t pattern_word(uint64_t off) {
	return off * 0x9E3779B97F4A7C15ull ^ 0xA5A55A5AC3C33C3Cull;
}

// make_file writes the pattern file, reads it back once to warm the page
// cache, and returns it open read-only.
static int make_file(const char *path) {
	static uint64_t chunk[CHUNK / 8];
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0)
		die(path, -errno);
	for (long off = 0; off < FILESIZE; off += CHUNK) {
		for (long i = 0; i < CHUNK / 8; i++)
			chunk[i] = pattern_word((uint64_t)(off + 8 * i)); // little-endian host
		if (write(fd, chunk, CHUNK) != CHUNK)
			die("write", errno ? -errno : -EIO);
	}
	close(fd);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die(path, -errno);
	for (long off = 0; off < FILESIZE; off += CHUNK)
		if (pread(fd, chunk, CHUNK, off) != CHUNK)
			die("warming read", errno ? -errno : -EIO);
	return fd;
}

// check_block reads one block and compares it with the pattern, so a broken
// setup cannot measure reads of nothing.
static void check_block(int fd, long off) {
	uint64_t b[BLOCK / 8];
	if (pread(fd, b, BLOCK, off) != BLOCK)
		die("check read", errno ? -errno : -EIO);
	for (int i = 0; i < BLOCK / 8; i++)
		if (b[i] != pattern_word((uint64_t)off + 8 * (uint64_t)i)) {
			fprintf(stderr, "read_anchor: data mismatch at %ld+%d\n", off, 8 * i);
			exit(1);
		}
}

static double run_pread(int fd, long ops) {
	double t0 = now_ns();
	for (long i = 0; i < ops; i++) {
		ssize_t n = pread(fd, bufs, BLOCK, offs[i & (NOFFS - 1)]);
		if (n != BLOCK)
			die("pread", n < 0 ? -errno : -EIO);
	}
	return (now_ns() - t0) / (double)ops;
}

// run_uring does ops reads, batch per submit-and-wait; every CQE is checked.
static double run_uring(struct io_uring *r, int fd, int batch, long ops) {
	struct io_uring_cqe *cqe;
	double t0 = now_ns();
	for (long i = 0; i < ops; i += batch) {
		for (int j = 0; j < batch; j++) {
			struct io_uring_sqe *s = io_uring_get_sqe(r);
			if (!s)
				die("io_uring_get_sqe", -EBUSY);
			io_uring_prep_read(s, fd, bufs + (size_t)j * BLOCK, BLOCK, offs[(i + j) & (NOFFS - 1)]);
		}
		int ret = io_uring_submit_and_wait(r, batch);
		if (ret < 0)
			die("io_uring_submit_and_wait", ret);
		unsigned head, n = 0;
		io_uring_for_each_cqe(r, head, cqe) {
			if (cqe->res != BLOCK)
				die("read completion", cqe->res < 0 ? cqe->res : -EIO);
			n++;
		}
		if (n != (unsigned)batch) {
			fprintf(stderr, "read_anchor: %u CQEs for a batch of %d\n", n, batch);
			exit(1);
		}
		io_uring_cq_advance(r, n);
	}
	return (now_ns() - t0) / (double)ops;
}

static void report(const char *name, long ops, double ns) {
	printf("%-48s %10ld %12.1f ns/op %8d B/op %8d allocs/op\n", name, ops, ns, 0, 0);
	fflush(stdout);
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: read_anchor FILE [count]\n");
		return 2;
	}
	int count = argc > 2 ? atoi(argv[2]) : 1;
	if (count < 1)
		count = 1;
	int fd = make_file(argv[1]);
	long blocks = FILESIZE / BLOCK;
	uint64_t x = 0x9E3779B97F4A7C15ull; // as randomOffsets in bench/ring
	for (int i = 0; i < NOFFS; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		offs[i] = (long)(x % (uint64_t)blocks) * BLOCK;
	}
	check_block(fd, offs[0]);

	struct io_uring r;
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	int ret = io_uring_queue_init_params(ENTRIES, &r, &p);
	if (ret < 0) {
		fprintf(stderr, "read_anchor: SINGLE_ISSUER|DEFER_TASKRUN refused (%s); no flags\n", strerror(-ret));
		ret = io_uring_queue_init(ENTRIES, &r, 0);
		if (ret < 0)
			die("io_uring_queue_init", ret);
	}
	ret = io_uring_register_ring_fd(&r);
	if (ret != 1)
		die("io_uring_register_ring_fd", ret < 0 ? ret : -EINVAL);

	run_pread(fd, OPS / 10); // warm up
	run_uring(&r, fd, 1, OPS / 10);
	for (int c = 0; c < count; c++) {
		report("BenchmarkRead4KPageCache/liburing/serial", OPS, run_uring(&r, fd, 1, OPS));
		report("BenchmarkRead4KPageCache/liburing/batch64", OPS, run_uring(&r, fd, BATCH, OPS));
		report("BenchmarkRead4KPageCache/pread-C/serial", OPS, run_pread(fd, OPS));
	}
	io_uring_queue_exit(&r);
	close(fd);
	unlink(argv[1]);
	return 0;
}
