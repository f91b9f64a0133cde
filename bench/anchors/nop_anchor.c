// nop_anchor: the practical floor for uringd's ring layer. liburing NOP
// round trips, serial (1 SQE, 1 enter, 1 CQE) and batched (64 SQEs per
// enter), on a ring set up like uringd's (SINGLE_ISSUER|DEFER_TASKRUN,
// falling back to no flags), with and without a registered ring fd.
//
// Output is in Go benchmark format with the same names as bench/ring, so
// benchstat can put the rows beside uringd's:
//
//   BenchmarkNOPSerial/liburing         1000000   490.0 ns/op   0 B/op   0 allocs/op
//
// Usage: nop_anchor [count]   (count: how many times each benchmark runs, default 1)
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENTRIES 256
#define BATCH 64
#define SERIAL_OPS 1000000L
#define BATCH_OPS (50000L * BATCH)

static double now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void die(const char *what, int err) {
	fprintf(stderr, "nop_anchor: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

// setup initialises r with uringd's preferred flags, or none if refused.
static void setup(struct io_uring *r, int regfd) {
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	int ret = io_uring_queue_init_params(ENTRIES, r, &p);
	if (ret < 0) {
		fprintf(stderr, "nop_anchor: SINGLE_ISSUER|DEFER_TASKRUN refused (%s); no flags\n", strerror(-ret));
		ret = io_uring_queue_init(ENTRIES, r, 0);
		if (ret < 0)
			die("io_uring_queue_init", ret);
	}
	if (regfd) {
		ret = io_uring_register_ring_fd(r);
		if (ret != 1)
			die("io_uring_register_ring_fd", ret < 0 ? ret : -EINVAL);
	}
}

// run does ops NOPs, batch per submit-and-wait, and returns ns per NOP. Every
// CQE is checked (result 0, and the count per batch).
static double run(struct io_uring *r, int batch, long ops) {
	struct io_uring_cqe *cqe;
	long iters = ops / batch;
	double t0 = now_ns();
	for (long i = 0; i < iters; i++) {
		for (int j = 0; j < batch; j++) {
			struct io_uring_sqe *s = io_uring_get_sqe(r);
			if (!s)
				die("io_uring_get_sqe", -EBUSY);
			io_uring_prep_nop(s);
			s->user_data = (unsigned long long)j;
		}
		int ret = io_uring_submit_and_wait(r, batch);
		if (ret < 0)
			die("io_uring_submit_and_wait", ret);
		unsigned head, n = 0;
		io_uring_for_each_cqe(r, head, cqe) {
			if (cqe->res != 0)
				die("nop completion", cqe->res);
			n++;
		}
		if (n != (unsigned)batch) {
			fprintf(stderr, "nop_anchor: %u CQEs for a batch of %d\n", n, batch);
			exit(1);
		}
		io_uring_cq_advance(r, n);
	}
	return (now_ns() - t0) / ((double)iters * batch);
}

static void report(const char *name, long ops, double ns) {
	printf("%-40s %10ld %12.1f ns/op %8d B/op %8d allocs/op\n", name, ops, ns, 0, 0);
	fflush(stdout);
}

int main(int argc, char **argv) {
	int count = argc > 1 ? atoi(argv[1]) : 1;
	if (count < 1)
		count = 1;
	struct io_uring reg, plain;
	setup(&reg, 1);
	setup(&plain, 0);
	fprintf(stderr, "nop_anchor: ring flags %#x, features %#x\n", reg.flags, reg.features);
	run(&reg, 1, 100000); // warm up
	run(&plain, 1, 100000);
	for (int c = 0; c < count; c++) {
		report("BenchmarkNOPSerial/liburing", SERIAL_OPS, run(&reg, 1, SERIAL_OPS));
		report("BenchmarkNOPSerial/liburing-noregfd", SERIAL_OPS, run(&plain, 1, SERIAL_OPS));
		report("BenchmarkNOPBatch64/liburing", BATCH_OPS, run(&reg, BATCH, BATCH_OPS));
		report("BenchmarkNOPBatch64/liburing-noregfd", BATCH_OPS, run(&plain, BATCH, BATCH_OPS));
	}
	io_uring_queue_exit(&reg);
	io_uring_queue_exit(&plain);
	return 0;
}
