// hello_anchor: the limit anchor for bench's HTTP scenarios. A single
// threaded liburing responder shaped like uringd's planned httpd, with
// almost nothing in user space:
//
//   - one multishot accept on a 127.0.0.1 listener;
//   - per connection one multishot recv drawing from a provided buffer
//     ring, so an idle connection holds no read buffer; bytes of a request
//     split across reads are kept in a small per-connection buffer;
//   - every complete request head of a read ("\r\n\r\n") gets a canned
//     response, all of them in one send; responses that become ready while
//     a send is in flight go out with the next one;
//   - "/json" gets {"message":"Hello, World!"}, any other target
//     "Hello, World!"; the Date header changes once per second.
//
// It does not parse HTTP (no header validation, no bodies, no close
// handling beyond EOF): it measures the kernel path, not an HTTP server.
// It is a measuring instrument, not part of uringd.
//
//   gcc -O2 -Wall -o hello_anchor hello_anchor.c -luring
//   ./hello_anchor PORT
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING_ENTRIES 2048
#define NBUFS 1024 // provided buffers (a power of two)
#define BUF_SIZE 4096
#define BGID 7

enum { K_ACCEPT = 1, K_RECV = 2, K_SEND = 3 };

struct bytes {
	char *p;
	size_t len, cap;
};

struct conn {
	struct bytes partial; // an incomplete request head carried to the next read
	struct bytes out;     // lent to the kernel by the send in flight
	struct bytes next;    // responses ready while a send is in flight
	size_t sent;          // bytes of out already sent
	int fd, sending, recv_armed;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *buf_base;
static struct conn **conns;
static int nconns;
static int listen_fd;

static char resp_plain[256], resp_json[256];
static size_t resp_plain_len, resp_json_len;
static time_t resp_second = -1;

static void die(const char *what, int err) {
	fprintf(stderr, "hello_anchor: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void refresh_responses(void) {
	time_t now = time(NULL);
	if (now == resp_second)
		return;
	resp_second = now;
	char date[64];
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	resp_plain_len = (size_t)snprintf(resp_plain, sizeof resp_plain,
		"HTTP/1.1 200 OK\r\nServer: hello_anchor\r\nDate: %s\r\n"
		"Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!", date);
	resp_json_len = (size_t)snprintf(resp_json, sizeof resp_json,
		"HTTP/1.1 200 OK\r\nServer: hello_anchor\r\nDate: %s\r\n"
		"Content-Type: application/json\r\nContent-Length: 27\r\n\r\n"
		"{\"message\":\"Hello, World!\"}", date);
}

static void append(struct bytes *b, const char *p, size_t n) {
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			die("realloc", ENOMEM);
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static struct io_uring_sqe *sqe_get(void) {
	struct io_uring_sqe *s = io_uring_get_sqe(&ring);
	while (!s) {
		io_uring_submit(&ring);
		s = io_uring_get_sqe(&ring);
	}
	return s;
}

static uint64_t ud(int kind, int fd) { return (uint64_t)kind << 32 | (uint32_t)fd; }

static void arm_accept(void) {
	struct io_uring_sqe *s = sqe_get();
	io_uring_prep_multishot_accept(s, listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(s, ud(K_ACCEPT, listen_fd));
}

static void arm_recv(struct conn *c) {
	struct io_uring_sqe *s = sqe_get();
	io_uring_prep_recv_multishot(s, c->fd, NULL, 0, 0);
	s->flags |= IOSQE_BUFFER_SELECT;
	s->buf_group = BGID;
	io_uring_sqe_set_data64(s, ud(K_RECV, c->fd));
	c->recv_armed = 1;
}

static void send_out(struct conn *c) {
	struct io_uring_sqe *s = sqe_get();
	io_uring_prep_send(s, c->fd, c->out.p + c->sent, c->out.len - c->sent, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(s, ud(K_SEND, c->fd));
	c->sending = 1;
}

static void recycle(int bid) {
	io_uring_buf_ring_add(br, buf_base + (size_t)bid * BUF_SIZE, BUF_SIZE, bid,
		io_uring_buf_ring_mask(NBUFS), 0);
	io_uring_buf_ring_advance(br, 1);
}

static void maybe_close(struct conn *c) {
	if (c->recv_armed || c->sending)
		return;
	close(c->fd);
	c->fd = -1;
	c->partial.len = c->out.len = c->next.len = c->sent = 0;
}

// respond appends a response for every complete request head in p[0:n]
// and returns how many bytes those requests took.
static size_t respond(struct conn *c, const char *p, size_t n) {
	struct bytes *dst = c->sending ? &c->next : &c->out;
	size_t done = 0;
	for (;;) {
		const char *end = memmem(p + done, n - done, "\r\n\r\n", 4);
		if (!end)
			break;
		const char *req = p + done;
		const char *sp = memchr(req, ' ', (size_t)(end - req));
		int json = sp && (size_t)(end - sp) > 6 && !memcmp(sp, " /json ", 7);
		if (json)
			append(dst, resp_json, resp_json_len);
		else
			append(dst, resp_plain, resp_plain_len);
		done = (size_t)(end - p) + 4;
	}
	return done;
}

static void on_data(struct conn *c, const char *p, size_t n) {
	if (c->partial.len) {
		append(&c->partial, p, n);
		size_t used = respond(c, c->partial.p, c->partial.len);
		memmove(c->partial.p, c->partial.p + used, c->partial.len - used);
		c->partial.len -= used;
	} else {
		size_t used = respond(c, p, n);
		if (used < n)
			append(&c->partial, p + used, n - used);
	}
	if (c->partial.len > 64 * 1024) { // no request head is that long
		shutdown(c->fd, SHUT_RDWR);
		c->partial.len = 0;
	}
	if (!c->sending && c->out.len)
		send_out(c);
}

static void on_accept(struct io_uring_cqe *cqe) {
	if (!(cqe->flags & IORING_CQE_F_MORE))
		arm_accept();
	if (cqe->res < 0)
		return;
	int fd = cqe->res, one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (fd >= nconns) {
		int n = nconns ? nconns : 1024;
		while (n <= fd)
			n *= 2;
		conns = realloc(conns, (size_t)n * sizeof *conns);
		if (!conns)
			die("realloc", ENOMEM);
		memset(conns + nconns, 0, (size_t)(n - nconns) * sizeof *conns);
		nconns = n;
	}
	if (!conns[fd] && !(conns[fd] = calloc(1, sizeof(struct conn))))
		die("calloc", ENOMEM);
	conns[fd]->fd = fd;
	arm_recv(conns[fd]);
}

static void on_recv(struct conn *c, struct io_uring_cqe *cqe) {
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		if (cqe->res > 0)
			on_data(c, buf_base + (size_t)bid * BUF_SIZE, (size_t)cqe->res);
		recycle(bid);
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	c->recv_armed = 0;
	if (cqe->res > 0 || cqe->res == -ENOBUFS) {
		arm_recv(c); // the kernel ended the multishot but the peer is still there
		return;
	}
	maybe_close(c); // EOF or error
}

static void on_send(struct conn *c, struct io_uring_cqe *cqe) {
	c->sending = 0;
	if (cqe->res < 0) {
		c->out.len = c->next.len = c->sent = 0;
		shutdown(c->fd, SHUT_RDWR); // ends the recv; the fd closes after it
		maybe_close(c);
		return;
	}
	c->sent += (size_t)cqe->res;
	if (c->sent < c->out.len) {
		send_out(c);
		return;
	}
	c->out.len = c->sent = 0;
	if (c->next.len) {
		struct bytes t = c->out;
		c->out = c->next;
		c->next = t;
		send_out(c);
		return;
	}
	maybe_close(c);
}

int main(int argc, char **argv) {
	int port = argc > 1 ? atoi(argv[1]) : 18090, one = 1, ret;
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) || listen(listen_fd, 4096))
		die("listen", errno);

	struct io_uring_params params;
	memset(&params, 0, sizeof params);
	params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	if (io_uring_queue_init_params(RING_ENTRIES, &ring, &params) < 0) {
		memset(&params, 0, sizeof params);
		if ((ret = io_uring_queue_init_params(RING_ENTRIES, &ring, &params)) < 0)
			die("io_uring_queue_init", ret);
	}

	// The provided buffer ring: entries and buffers in one page-aligned map.
	size_t ring_bytes = NBUFS * sizeof(struct io_uring_buf);
	char *mem = mmap(NULL, ring_bytes + (size_t)NBUFS * BUF_SIZE, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap", errno);
	br = (struct io_uring_buf_ring *)mem;
	buf_base = mem + ring_bytes;
	io_uring_buf_ring_init(br);
	struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = NBUFS, .bgid = BGID};
	if ((ret = io_uring_register_buf_ring(&ring, &reg, 0)) < 0)
		die("io_uring_register_buf_ring", ret);
	for (int i = 0; i < NBUFS; i++)
		io_uring_buf_ring_add(br, buf_base + (size_t)i * BUF_SIZE, BUF_SIZE, i, io_uring_buf_ring_mask(NBUFS), i);
	io_uring_buf_ring_advance(br, NBUFS);

	refresh_responses();
	arm_accept();
	printf("LISTENING 127.0.0.1:%d\n", port);
	fflush(stdout);
	for (;;) {
		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN)
			die("io_uring_submit_and_wait", ret);
		refresh_responses();
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			n++;
			int kind = (int)(cqe->user_data >> 32), fd = (int)(uint32_t)cqe->user_data;
			if (kind == K_ACCEPT) {
				on_accept(cqe);
				continue;
			}
			struct conn *c = fd < nconns ? conns[fd] : NULL;
			if (!c || c->fd != fd)
				continue; // cannot happen: fds close only when nothing is in flight
			if (kind == K_RECV)
				on_recv(c, cqe);
			else
				on_send(c, cqe);
		}
		io_uring_cq_advance(&ring, n);
	}
}
