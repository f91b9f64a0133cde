package uring

// End-to-end socket tests against the real kernel on 127.0.0.1. Each test
// drives its ring from the test goroutine locked to its OS thread (the
// ring has SINGLE_ISSUER/DEFER_TASKRUN), keeps every buffer it hands the
// kernel reachable until the CQE, bounds every wait, and fails when an fd
// or a goroutine leaks. Peers are plain Go net.Conns.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func ntRandom(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// ntFirstDiff describes where two byte streams first differ.
func ntFirstDiff(got, want []byte) string {
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at byte %d: got %#x, want %#x (lengths %d, %d)", i, got[i], want[i], len(got), len(want))
		}
	}
	return fmt.Sprintf("lengths differ: got %d bytes, want %d", len(got), len(want))
}

// 1. accept and connect through the ring, then send/recv both ways.
func TestNetAcceptConnectSendRecv(t *testing.T) {
	ntLeakCheck(t)
	r := lockedRing(t, Config{Entries: 64})

	lfd, port := ntListen(t)
	defer ntClose(t, lfd)
	cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	defer ntClose(t, cfd)

	peerAddr := new(unix.RawSockaddrAny)
	peerLen := new(uint32)
	*peerLen = unix.SizeofSockaddrAny
	sa, saLen := ntSockaddr(port)

	s := ntSQE(t, r)
	s.PrepAccept(lfd, peerAddr, peerLen, unix.SOCK_CLOEXEC)
	s.UserData = 1
	s = ntSQE(t, r)
	s.PrepConnect(cfd, sa, saLen)
	s.UserData = 2
	m := ntByUD(t, ntWait(t, r, 2, ntTimeout))
	runtime.KeepAlive(sa)
	ntWantRes(t, "connect", m[2], 0)
	if m[1].Res < 0 {
		t.Fatalf("accept: %v", m[1].Err())
	}
	afd := int(m[1].Res)
	defer ntClose(t, afd)

	// The kernel filled in the client's address.
	clientPort := ntLocalPort(t, cfd)
	fam, addr, p := ntRawPort(peerAddr)
	if *peerLen != unix.SizeofSockaddrInet4 || fam != unix.AF_INET || addr != [4]byte{127, 0, 0, 1} || p != clientPort {
		t.Fatalf("accept peer address: len %d family %d %v:%d, want %d AF_INET 127.0.0.1:%d",
			*peerLen, fam, addr, p, unix.SizeofSockaddrInet4, clientPort)
	}
	if got := ntPeerPort(t, afd); got != clientPort {
		t.Fatalf("accepted socket's peer port %d, want %d", got, clientPort)
	}
	if got := ntPeerPort(t, cfd); got != port {
		t.Fatalf("connected socket's peer port %d, want %d", got, port)
	}
	if fl, err := unix.FcntlInt(uintptr(afd), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Fatalf("accepted fd flags %#x (%v): SOCK_CLOEXEC not applied", fl, err)
	}

	// Client to server: recv and send in one batch.
	msg1 := []byte("ping from the client, through io_uring")
	buf := make([]byte, 256)
	s = ntSQE(t, r)
	s.PrepRecv(afd, buf, 0)
	s.UserData = 3
	s = ntSQE(t, r)
	s.PrepSend(cfd, msg1, unix.MSG_NOSIGNAL)
	s.UserData = 4
	m = ntByUD(t, ntWait(t, r, 2, ntTimeout))
	ntWantRes(t, "send", m[4], int32(len(msg1)))
	ntWantRes(t, "recv", m[3], int32(len(msg1)))
	if !bytes.Equal(buf[:m[3].Res], msg1) {
		t.Fatalf("server received %q, want %q", buf[:m[3].Res], msg1)
	}
	runtime.KeepAlive(msg1)

	// Server to client: 200 KiB, more than the socket buffers hold, so the
	// send (MSG_WAITALL: the ring retries short sends) and the recvs
	// interleave.
	msg2 := ntRandom(200 << 10)
	rbuf := make([]byte, 64<<10)
	got := make([]byte, 0, len(msg2))
	s = ntSQE(t, r)
	s.PrepSend(afd, msg2, unix.MSG_NOSIGNAL|unix.MSG_WAITALL)
	s.UserData = 5
	sendDone, armed := false, false
	for !sendDone || len(got) < len(msg2) {
		if !armed && len(got) < len(msg2) {
			s = ntSQE(t, r)
			s.PrepRecv(cfd, rbuf, 0)
			s.UserData = 6
			armed = true
		}
		c := ntWait(t, r, 1, ntTimeout)[0]
		switch c.UserData {
		case 5:
			ntWantRes(t, "send 200 KiB with MSG_WAITALL", c, int32(len(msg2)))
			sendDone = true
		case 6:
			if c.Res <= 0 {
				t.Fatalf("client recv after %d bytes: res %d (%v)", len(got), c.Res, c.Err())
			}
			got = append(got, rbuf[:c.Res]...)
			armed = false
		default:
			t.Fatalf("unexpected CQE %s", ntFmt([]CQE{c}))
		}
	}
	runtime.KeepAlive(msg2)
	runtime.KeepAlive(rbuf)
	if !bytes.Equal(got, msg2) {
		t.Fatalf("client received a different stream: %s", ntFirstDiff(got, msg2))
	}
}

// 2. multishot accept: one CQE with MORE per connection, then cancel.
func TestNetMultishotAccept(t *testing.T) {
	ntLeakCheck(t)
	r := lockedRing(t, Config{Entries: 64})

	lfd, port := ntListen(t)
	defer ntClose(t, lfd)
	const accUD, cancelUD = 100, 101

	s := ntSQE(t, r)
	s.PrepMultishotAccept(lfd, unix.SOCK_CLOEXEC)
	s.UserData = accUD
	ntSubmit(t, r, 1)
	ntExpectQuiet(t, r, 20*time.Millisecond)

	const n = 8
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	clientPorts := map[int]bool{}
	for i := 0; i < n; i++ {
		c := ntDial(t, port)
		clients = append(clients, c)
		clientPorts[c.LocalAddr().(*net.TCPAddr).Port] = true
	}

	var fds []int
	defer func() {
		for _, fd := range fds {
			ntClose(t, fd)
		}
	}()
	cqes := ntWait(t, r, n, ntTimeout)
	for i, c := range cqes {
		if c.UserData != accUD || c.Res < 0 || !c.More() {
			t.Fatalf("accept CQE %d: %s, want user data %d, an fd and MORE", i, ntFmt([]CQE{c}), accUD)
		}
		fd := int(c.Res)
		fds = append(fds, fd)
		pp := ntPeerPort(t, fd)
		if !clientPorts[pp] {
			t.Fatalf("accepted fd %d has peer port %d: not one of the clients (or accepted twice)", fd, pp)
		}
		delete(clientPorts, pp)
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
			t.Fatalf("accepted fd %d flags %#x (%v): SOCK_CLOEXEC not applied", fd, fl, err)
		}
	}

	// Each accepted fd is a live connection: a byte from client i arrives.
	for i, c := range clients {
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatalf("client write: %v", err)
		}
	}
	seen := map[byte]bool{}
	for _, fd := range fds {
		b := ntRecvFull(t, r, fd, 1, 102)
		if seen[b[0]] || b[0] >= n {
			t.Fatalf("accepted fd %d read byte %d", fd, b[0])
		}
		seen[b[0]] = true
	}

	s = ntSQE(t, r)
	s.PrepCancel(accUD, 0)
	s.UserData = cancelUD
	m := ntByUD(t, ntWait(t, r, 2, ntTimeout))
	ntWantErr(t, "multishot accept after cancel", m[accUD], unix.ECANCELED)
	if m[accUD].More() {
		t.Fatalf("final accept CQE still has MORE: %s", ntFmt([]CQE{m[accUD]}))
	}
	ntWantRes(t, "async cancel", m[cancelUD], 0)

	// Disarmed: a new connection waits in the backlog, the ring stays quiet.
	late := ntDial(t, port)
	clients = append(clients, late)
	ntExpectQuiet(t, r, 50*time.Millisecond)
	fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatalf("plain accept of the late client: %v", err)
	}
	fds = append(fds, fd)
}

// 3. multishot accept into the registered file table; use and close slots.
func TestNetMultishotAcceptDirect(t *testing.T) {
	ntLeakCheck(t)
	r := lockedRing(t, Config{Entries: 64})

	const nSlots = 16
	if err := r.RegisterFilesSparse(nSlots); err != nil {
		t.Fatalf("RegisterFilesSparse: %v", err)
	}
	lfd, port := ntListen(t)
	defer ntClose(t, lfd)
	const accUD, cancelUD = 200, 201

	s := ntSQE(t, r)
	s.PrepMultishotAcceptDirect(lfd, 0)
	s.UserData = accUD
	ntSubmit(t, r, 1)
	ntExpectQuiet(t, r, 20*time.Millisecond)

	fdsBefore := ntFdCount(t)
	const n = 3
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		clients = append(clients, ntDial(t, port))
	}
	var slots []uint32
	for i, c := range ntWait(t, r, n, ntTimeout) {
		if c.UserData != accUD || c.Res < 0 || c.Res >= nSlots || !c.More() {
			t.Fatalf("direct accept CQE %d: %s, want a slot in [0,%d) and MORE", i, ntFmt([]CQE{c}), nSlots)
		}
		for _, sl := range slots {
			if sl == uint32(c.Res) {
				t.Fatalf("slot %d handed out twice", sl)
			}
		}
		slots = append(slots, uint32(c.Res))
	}
	// Direct descriptors live in the ring, not in the process's fd table:
	// only the n client conns are new.
	if got := ntFdCount(t); got != fdsBefore+n {
		t.Fatalf("process has %d fds, want %d: direct accept installed normal fds", got, fdsBefore+n)
	}

	// Each client names itself; a recv on each fixed slot says which.
	for i, c := range clients {
		if _, err := fmt.Fprintf(c, "client-%d", i); err != nil {
			t.Fatalf("client write: %v", err)
		}
	}
	bufs := make(map[uint32][]byte)
	for _, sl := range slots {
		bufs[sl] = make([]byte, 64)
		s = ntSQE(t, r)
		s.PrepRecv(int(sl), bufs[sl], 0)
		s.Flags |= SQEFixedFile
		s.UserData = 300 + uint64(sl)
	}
	clientOf := map[uint32]int{}
	for _, c := range ntWait(t, r, n, ntTimeout) {
		sl := uint32(c.UserData - 300)
		if c.Res <= 0 {
			t.Fatalf("recv on fixed slot %d: res %d (%v)", sl, c.Res, c.Err())
		}
		var i int
		if _, err := fmt.Sscanf(string(bufs[sl][:c.Res]), "client-%d", &i); err != nil || i < 0 || i >= n {
			t.Fatalf("slot %d received %q", sl, bufs[sl][:c.Res])
		}
		clientOf[sl] = i
	}
	runtime.KeepAlive(bufs)
	if len(clientOf) != n {
		t.Fatalf("slots map to clients %v", clientOf)
	}

	// Reply through each fixed slot; each client reads its own answer.
	replies := make(map[uint32][]byte)
	for _, sl := range slots {
		replies[sl] = fmt.Appendf(nil, "hello client-%d via slot %d", clientOf[sl], sl)
		s = ntSQE(t, r)
		s.PrepSend(int(sl), replies[sl], unix.MSG_NOSIGNAL)
		s.Flags |= SQEFixedFile
		s.UserData = 400 + uint64(sl)
	}
	for _, c := range ntWait(t, r, n, ntTimeout) {
		sl := uint32(c.UserData - 400)
		ntWantRes(t, fmt.Sprintf("send on fixed slot %d", sl), c, int32(len(replies[sl])))
	}
	runtime.KeepAlive(replies)
	for _, sl := range slots {
		want := replies[sl]
		got := make([]byte, len(want))
		if _, err := io.ReadFull(clients[clientOf[sl]], got); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("client %d read %q (%v), want %q", clientOf[sl], got, err, want)
		}
	}

	s = ntSQE(t, r)
	s.PrepCancel(accUD, 0)
	s.UserData = cancelUD
	m := ntByUD(t, ntWait(t, r, 2, ntTimeout))
	ntWantErr(t, "multishot accept direct after cancel", m[accUD], unix.ECANCELED)
	if m[accUD].More() {
		t.Fatalf("final accept CQE still has MORE")
	}
	ntWantRes(t, "async cancel", m[cancelUD], 0)

	for _, sl := range slots {
		s = ntSQE(t, r)
		s.PrepCloseDirect(sl)
		s.UserData = 500 + uint64(sl)
	}
	for _, c := range ntWait(t, r, n, ntTimeout) {
		ntWantRes(t, fmt.Sprintf("close direct slot %d", c.UserData-500), c, 0)
	}
	// The slot held the only reference: closing it closed the connection.
	for i, c := range clients {
		var b [1]byte
		if n, err := c.Read(b[:]); err != io.EOF {
			t.Fatalf("client %d after close direct: read %d, %v; want EOF", i, n, err)
		}
	}
	// The slot is empty now.
	buf := make([]byte, 8)
	s = ntSQE(t, r)
	s.PrepRecv(int(slots[0]), buf, 0)
	s.Flags |= SQEFixedFile
	s.UserData = 600
	ntWantErr(t, "recv on a closed fixed slot", ntWait(t, r, 1, ntTimeout)[0], unix.EBADF)
	runtime.KeepAlive(buf)
	if err := r.UnregisterFiles(); err != nil {
		t.Fatalf("UnregisterFiles: %v", err)
	}
}

// 4. multishot recv with a provided buffer ring, buffer exhaustion, re-arm.
func TestNetMultishotRecvBufRing(t *testing.T) {
	ntLeakCheck(t)
	r := lockedRing(t, Config{Entries: 64})

	fd, peer := ntPair(t)
	defer ntClose(t, fd)
	defer peer.Close()

	const bgid, nBufs, bufSize = 7, 4, 64
	br, err := r.NewBufRing(bgid, nBufs, bufSize)
	if err != nil {
		t.Fatalf("NewBufRing: %v", err)
	}
	defer func() {
		if err := br.Close(); err != nil {
			t.Errorf("BufRing.Close: %v", err)
		}
	}()
	if br.Group() != bgid || br.Entries() != nBufs {
		t.Fatalf("buf ring group %d entries %d", br.Group(), br.Entries())
	}

	arm := func(ud uint64) {
		t.Helper()
		s := ntSQE(t, r)
		s.PrepRecvMultishot(fd, bgid, 0)
		s.UserData = ud
		ntSubmit(t, r, 1)
	}
	var sent, got []byte
	// take checks a data CQE of the multishot recv and appends its bytes.
	take := func(c CQE, ud uint64) uint16 {
		t.Helper()
		bid, ok := c.BufferID()
		if c.UserData != ud || c.Res <= 0 || c.Res > bufSize || !c.More() || !ok || bid >= nBufs {
			t.Fatalf("multishot recv CQE %s (bid %d, buffer flag %v): want user data %d, 1..%d bytes, MORE and a buffer",
				ntFmt([]CQE{c}), bid, ok, ud, bufSize)
		}
		got = append(got, br.Buf(bid, int(c.Res))...)
		return bid
	}

	// Phase 1: messages of up to 128 bytes (at most 4 buffers even if one
	// arrives in two pieces), each consumed and recycled before the next.
	arm(10)
	rng := mrand.New(mrand.NewPCG(4, 2))
	cqeCount := 0
	for i := 0; i < 40; i++ {
		msg := make([]byte, 1+rng.IntN(128))
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		if _, err := peer.Write(msg); err != nil {
			t.Fatalf("peer write: %v", err)
		}
		sent = append(sent, msg...)
		for len(got) < len(sent) {
			c := ntWait(t, r, 1, ntTimeout)[0]
			br.Recycle(take(c, 10))
			cqeCount++
		}
	}
	if !bytes.Equal(got, sent) {
		t.Fatalf("phase 1 stream differs: %s", ntFirstDiff(got, sent))
	}
	t.Logf("phase 1: %d bytes in %d CQEs", len(got), cqeCount)

	// Phase 2: no recycling, and more data than the four buffers hold: the
	// multishot recv fills all four, then ends with ENOBUFS and no MORE.
	big := ntRandom(nBufs*bufSize + 100)
	if _, err := peer.Write(big); err != nil {
		t.Fatalf("peer write: %v", err)
	}
	sent = append(sent, big...)
	cqes := ntWaitUntil(t, r, ntTimeout, func(c CQE) bool { return !c.More() })
	last := cqes[len(cqes)-1]
	if last.UserData != 10 {
		t.Fatalf("unexpected CQE %s", ntFmt(cqes))
	}
	ntWantErr(t, "multishot recv with every buffer taken", last, unix.ENOBUFS)
	if _, ok := last.BufferID(); ok {
		t.Fatalf("ENOBUFS CQE carries a buffer: %s", ntFmt([]CQE{last}))
	}
	var held []uint16
	for _, c := range cqes[:len(cqes)-1] {
		bid := take(c, 10)
		for _, h := range held {
			if h == bid {
				t.Fatalf("buffer %d delivered twice without being recycled: %s", bid, ntFmt(cqes))
			}
		}
		held = append(held, bid)
	}
	if len(held) != nBufs {
		t.Fatalf("ENOBUFS after %d buffers, want all %d used: %s", len(held), nBufs, ntFmt(cqes))
	}
	if len(got) >= len(sent) || !bytes.Equal(got, sent[:len(got)]) {
		t.Fatalf("phase 2: received %d of %d bytes; prefix intact: %v", len(got), len(sent),
			len(got) <= len(sent) && bytes.Equal(got, sent[:min(len(got), len(sent))]))
	}

	// Phase 3: return the buffers, re-arm; nothing was lost, order kept.
	for _, bid := range held {
		br.Recycle(bid)
	}
	arm(11)
	tail := ntRandom(150)
	if _, err := peer.Write(tail); err != nil {
		t.Fatalf("peer write: %v", err)
	}
	sent = append(sent, tail...)
	for len(got) < len(sent) {
		c := ntWait(t, r, 1, ntTimeout)[0]
		br.Recycle(take(c, 11))
	}
	if !bytes.Equal(got, sent) {
		t.Fatalf("stream after re-arm differs: %s", ntFirstDiff(got, sent))
	}

	// EOF ends the multishot recv: res 0, no MORE, no buffer.
	peer.Close()
	c := ntWait(t, r, 1, ntTimeout)[0]
	if _, ok := c.BufferID(); c.UserData != 11 || c.Res != 0 || c.More() || ok {
		t.Fatalf("after the peer closed: %s, want res 0 without MORE or buffer", ntFmt([]CQE{c}))
	}
}

// 5. send_zc posts a result with MORE then a notification; sendmsg with
// two iovecs sends their concatenation.
func TestNetSendZCAndSendmsg(t *testing.T) {
	ntLeakCheck(t)
	r := lockedRing(t, Config{Entries: 64})

	fd, peer := ntPair(t)
	defer ntClose(t, fd)
	defer peer.Close()

	for _, zcFlags := range []uint16{0, SendZCReportUsage} {
		payload := ntRandom(48 << 10)
		rd := ntReadAsync(peer, len(payload))
		s := ntSQE(t, r)
		s.PrepSendZC(fd, payload, unix.MSG_NOSIGNAL|unix.MSG_WAITALL, zcFlags)
		s.UserData = 700
		cqes := ntWait(t, r, 2, ntTimeout)
		res, notif := cqes[0], cqes[1]
		if res.UserData != 700 || res.Res != int32(len(payload)) || !res.More() || res.Notif() {
			t.Fatalf("send_zc result CQE %s: want res %d with MORE, not NOTIF (then %s)", ntFmt([]CQE{res}), len(payload), ntFmt([]CQE{notif}))
		}
		if notif.UserData != 700 || !notif.Notif() || notif.More() {
			t.Fatalf("send_zc notification CQE %s: want the same user data, NOTIF, no MORE", ntFmt([]CQE{notif}))
		}
		// Without a usage report the notification's res is 0; with one it
		// is 0 or IORING_NOTIF_USAGE_ZC_COPIED (bit 31, a negative int32:
		// it is not an errno, so CQE.Err must not be used on it).
		if zcFlags == 0 && notif.Res != 0 || zcFlags != 0 && uint32(notif.Res)&^NotifUsageZCCopied != 0 {
			t.Fatalf("send_zc notification res %#x (zc flags %#x)", uint32(notif.Res), zcFlags)
		}
		t.Logf("send_zc zc flags %#x: notification res %#x", zcFlags, uint32(notif.Res))
		runtime.KeepAlive(payload)
		rr := ntGet(t, "send_zc reader", rd)
		if rr.err != nil || !bytes.Equal(rr.data, payload) {
			t.Fatalf("peer read %d bytes (%v): %s", len(rr.data), rr.err, ntFirstDiff(rr.data, payload))
		}
	}

	a := []byte("first iovec | ")
	b := ntRandom(3000)
	iovs := make([]unix.Iovec, 2)
	iovs[0].Base = &a[0]
	iovs[0].SetLen(len(a))
	iovs[1].Base = &b[0]
	iovs[1].SetLen(len(b))
	msg := new(unix.Msghdr)
	msg.Iov = &iovs[0]
	msg.SetIovlen(len(iovs))
	want := append(append([]byte(nil), a...), b...)
	rd := ntReadAsync(peer, len(want))
	s := ntSQE(t, r)
	s.PrepSendmsg(fd, msg, unix.MSG_NOSIGNAL)
	s.UserData = 701
	c := ntWait(t, r, 1, ntTimeout)[0]
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(iovs)
	runtime.KeepAlive(msg)
	if c.UserData != 701 {
		t.Fatalf("unexpected CQE %s", ntFmt([]CQE{c}))
	}
	ntWantRes(t, "sendmsg", c, int32(len(want)))
	rr := ntGet(t, "sendmsg reader", rd)
	if rr.err != nil || !bytes.Equal(rr.data, want) {
		t.Fatalf("peer read %d bytes (%v): %s", len(rr.data), rr.err, ntFirstDiff(rr.data, want))
	}
}

// 6. a recv linked to a 50 ms link timeout is cancelled when nobody sends;
// when data is there, the recv wins and the timeout is cancelled.
func TestNetLinkTimeoutRecv(t *testing.T) {
	ntLeakCheck(t)
	r := lockedRing(t, Config{Entries: 64})

	fd, peer := ntPair(t)
	defer ntClose(t, fd)
	defer peer.Close()

	buf := make([]byte, 64)
	ts := new(unix.Timespec)
	*ts = unix.NsecToTimespec(int64(50 * time.Millisecond))
	s := ntSQE(t, r)
	s.PrepRecv(fd, buf, 0)
	s.Flags |= SQEIOLink
	s.UserData = 800
	s = ntSQE(t, r)
	s.PrepLinkTimeout(ts, 0)
	s.UserData = 801
	start := time.Now()
	m := ntByUD(t, ntWait(t, r, 2, ntTimeout))
	elapsed := time.Since(start)
	ntWantErr(t, "recv cut by its link timeout", m[800], unix.ECANCELED)
	ntWantErr(t, "link timeout", m[801], unix.ETIME)
	if elapsed < 45*time.Millisecond {
		t.Fatalf("link timeout of 50ms fired after %v", elapsed)
	}
	t.Logf("link timeout fired after %v", elapsed)

	// Data already queued: the recv completes and cancels its timeout.
	msg := []byte("in time")
	if _, err := peer.Write(msg); err != nil {
		t.Fatalf("peer write: %v", err)
	}
	*ts = unix.NsecToTimespec(int64(ntTimeout))
	s = ntSQE(t, r)
	s.PrepRecv(fd, buf, 0)
	s.Flags |= SQEIOLink
	s.UserData = 802
	s = ntSQE(t, r)
	s.PrepLinkTimeout(ts, 0)
	s.UserData = 803
	m = ntByUD(t, ntWait(t, r, 2, ntTimeout))
	ntWantRes(t, "linked recv with data", m[802], int32(len(msg)))
	ntWantErr(t, "link timeout of a completed recv", m[803], unix.ECANCELED)
	if !bytes.Equal(buf[:len(msg)], msg) {
		t.Fatalf("received %q, want %q", buf[:len(msg)], msg)
	}
	runtime.KeepAlive(buf)
	runtime.KeepAlive(ts)
}

// 7. cancel pending recvs by user data, by fd (one, all) and any.
func TestNetCancelPendingRecv(t *testing.T) {
	ntLeakCheck(t)
	r := lockedRing(t, Config{Entries: 64})

	fd, peer := ntPair(t)
	defer ntClose(t, fd)
	defer peer.Close()
	fd2, peer2 := ntPair(t)
	defer ntClose(t, fd2)
	defer peer2.Close()

	bufs := make([][]byte, 4)
	for i := range bufs {
		bufs[i] = make([]byte, 32)
	}
	defer runtime.KeepAlive(bufs)
	arm := func(fd, i int, ud uint64) {
		s := ntSQE(t, r)
		s.PrepRecv(fd, bufs[i], 0)
		s.UserData = ud
	}
	// countCancelled checks the CQEs of cancelUD (res want) and of the
	// cancelled recvs (-ECANCELED) and returns how many recvs were cancelled.
	countCancelled := func(cqes []CQE, cancelUD uint64, want int32) int {
		t.Helper()
		n := 0
		for _, c := range cqes {
			if c.UserData == cancelUD {
				ntWantRes(t, "async cancel", c, want)
				continue
			}
			ntWantErr(t, fmt.Sprintf("cancelled recv %d", c.UserData), c, unix.ECANCELED)
			n++
		}
		return n
	}

	// By user data.
	arm(fd, 0, 900)
	ntExpectQuiet(t, r, 20*time.Millisecond)
	s := ntSQE(t, r)
	s.PrepCancel(900, 0)
	s.UserData = 901
	if n := countCancelled(ntWait(t, r, 2, ntTimeout), 901, 0); n != 1 {
		t.Fatalf("cancel by user data cancelled %d recvs", n)
	}
	// Nothing matches: ENOENT.
	s = ntSQE(t, r)
	s.PrepCancel(0xdead, 0)
	s.UserData = 902
	ntWantErr(t, "cancel of unknown user data", ntWait(t, r, 1, ntTimeout)[0], unix.ENOENT)

	// By fd: one, then all the rest (res counts them).
	arm(fd, 0, 910)
	arm(fd, 1, 911)
	arm(fd, 2, 912)
	arm(fd2, 3, 913) // another fd: untouched
	ntExpectQuiet(t, r, 20*time.Millisecond)
	s = ntSQE(t, r)
	s.PrepCancelFd(fd, 0)
	s.UserData = 914
	if n := countCancelled(ntWait(t, r, 2, ntTimeout), 914, 0); n != 1 {
		t.Fatalf("cancel by fd cancelled %d recvs", n)
	}
	s = ntSQE(t, r)
	s.PrepCancelFd(fd, CancelAll)
	s.UserData = 915
	cqes := ntWait(t, r, 3, ntTimeout)
	if n := countCancelled(cqes, 915, 2); n != 2 {
		t.Fatalf("cancel all by fd cancelled %d recvs", n)
	}
	for _, c := range cqes {
		if c.UserData == 913 {
			t.Fatalf("cancel by fd %d cancelled a recv on fd %d", fd, fd2)
		}
	}
	ntExpectQuiet(t, r, 20*time.Millisecond)

	// Any: everything in flight on the ring (913 on fd2 and two more).
	arm(fd, 0, 920)
	arm(fd, 1, 921)
	ntExpectQuiet(t, r, 20*time.Millisecond)
	s = ntSQE(t, r)
	s.PrepCancelAny()
	s.UserData = 922
	if n := countCancelled(ntWait(t, r, 4, ntTimeout), 922, 3); n != 3 {
		t.Fatalf("cancel any cancelled %d recvs", n)
	}
	ntExpectQuiet(t, r, 20*time.Millisecond)

	// No cancelled recv consumed data: both sockets still deliver.
	for _, p := range []struct {
		fd   int
		conn net.Conn
	}{{fd, peer}, {fd2, peer2}} {
		if _, err := p.conn.Write([]byte("still here")); err != nil {
			t.Fatalf("peer write: %v", err)
		}
		if got := ntRecvFull(t, r, p.fd, 10, 930); string(got) != "still here" {
			t.Fatalf("after cancels, received %q", got)
		}
	}
}

// 8. splice a file into a socket through a pipe; the peer's sha256 matches.
func TestNetSpliceFileToSocket(t *testing.T) {
	ntLeakCheck(t)
	r := lockedRing(t, Config{Entries: 64})

	data := ntRandom(256 << 10)
	path := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ffd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer ntClose(t, ffd)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	defer ntClose(t, p[0])
	defer ntClose(t, p[1])
	fd, peer := ntPair(t)
	defer ntClose(t, fd)
	defer peer.Close()

	type hashResult struct {
		sum [sha256.Size]byte
		n   int64
		err error
	}
	done := make(chan hashResult, 1)
	go func() {
		h := sha256.New()
		n, err := io.Copy(h, peer)
		var res hashResult
		copy(res.sum[:], h.Sum(nil))
		res.n, res.err = n, err
		done <- res
	}()

	const chunk = 64 << 10 // the default pipe capacity
	const none = ^uint64(0)
	off, inPipe, rounds := 0, 0, 0
	for off < len(data) {
		n := min(chunk, len(data)-off)
		s := ntSQE(t, r)
		s.PrepSplice(ffd, uint64(off), p[1], none, uint32(n), 0)
		s.Flags |= SQEIOLink
		s.UserData = 1000
		s = ntSQE(t, r)
		s.PrepSplice(p[0], none, fd, none, uint32(n), 0)
		s.UserData = 1001
		m := ntByUD(t, ntWait(t, r, 2, ntTimeout))
		in, out := m[1000], m[1001]
		if in.Res <= 0 {
			t.Fatalf("splice file->pipe at %d: res %d (%v)", off, in.Res, in.Err())
		}
		off += int(in.Res)
		inPipe += int(in.Res)
		switch {
		case out.Res > 0:
			inPipe -= int(out.Res)
		case errors.Is(out.Err(), unix.ECANCELED) && int(in.Res) < n:
			// A short first splice breaks the link; drain below.
		default:
			t.Fatalf("splice pipe->socket: res %d (%v) after file->pipe %d", out.Res, out.Err(), in.Res)
		}
		for inPipe > 0 {
			s = ntSQE(t, r)
			s.PrepSplice(p[0], none, fd, none, uint32(inPipe), 0)
			s.UserData = 1002
			c := ntWait(t, r, 1, ntTimeout)[0]
			if c.Res <= 0 {
				t.Fatalf("splice pipe->socket with %d bytes in the pipe: res %d (%v)", inPipe, c.Res, c.Err())
			}
			inPipe -= int(c.Res)
		}
		rounds++
	}
	if inPipe < 0 {
		t.Fatalf("more bytes left the pipe than entered it (%d)", inPipe)
	}
	// End of file: splice returns 0.
	s := ntSQE(t, r)
	s.PrepSplice(ffd, uint64(len(data)), p[1], none, chunk, 0)
	s.UserData = 1003
	ntWantRes(t, "splice at end of file", ntWait(t, r, 1, ntTimeout)[0], 0)

	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	res := ntGet(t, "hashing peer", done)
	if res.err != nil || res.n != int64(len(data)) {
		t.Fatalf("peer read %d bytes (%v), want %d", res.n, res.err, len(data))
	}
	if want := sha256.Sum256(data); res.sum != want {
		t.Fatalf("sha256 of what the peer read %x, want %x", res.sum, want)
	}
	t.Logf("spliced %d bytes in %d rounds", len(data), rounds)
}

// 9. shutdown(SHUT_WR): the peer reads EOF; the other direction still works.
func TestNetShutdownWrite(t *testing.T) {
	ntLeakCheck(t)
	r := lockedRing(t, Config{Entries: 64})

	fd, peer := ntPair(t)
	defer ntClose(t, fd)
	defer peer.Close()

	last := []byte("last words")
	ntSendFull(t, r, fd, last, 1100)
	s := ntSQE(t, r)
	s.PrepShutdown(fd, unix.SHUT_WR)
	s.UserData = 1101
	ntWantRes(t, "shutdown SHUT_WR", ntWait(t, r, 1, ntTimeout)[0], 0)

	rr := ntGet(t, "peer read to EOF", ntReadAsync(peer, -1))
	if rr.err != nil || !bytes.Equal(rr.data, last) {
		t.Fatalf("peer read %q then %v, want %q then EOF", rr.data, rr.err, last)
	}
	// Half-closed: the peer can still send to us.
	if _, err := peer.Write([]byte("reply")); err != nil {
		t.Fatalf("peer write: %v", err)
	}
	if got := ntRecvFull(t, r, fd, 5, 1102); string(got) != "reply" {
		t.Fatalf("received %q after shutdown, want %q", got, "reply")
	}
	// But we cannot send any more.
	buf := []byte("too late")
	s = ntSQE(t, r)
	s.PrepSend(fd, buf, unix.MSG_NOSIGNAL)
	s.UserData = 1103
	ntWantErr(t, "send after SHUT_WR", ntWait(t, r, 1, ntTimeout)[0], unix.EPIPE)
	runtime.KeepAlive(buf)
}

// 10. poll add (single and multishot) on a socket becoming readable; poll
// remove of the multishot poll.
func TestNetPoll(t *testing.T) {
	ntLeakCheck(t)
	r := lockedRing(t, Config{Entries: 64})

	fd, peer := ntPair(t)
	defer ntClose(t, fd)
	defer peer.Close()

	s := ntSQE(t, r)
	s.PrepPollAdd(fd, unix.POLLIN)
	s.UserData = 1200
	ntSubmit(t, r, 1)
	ntExpectQuiet(t, r, 20*time.Millisecond)
	if _, err := peer.Write([]byte("a")); err != nil {
		t.Fatalf("peer write: %v", err)
	}
	c := ntWait(t, r, 1, ntTimeout)[0]
	if c.UserData != 1200 || c.Res < 0 || c.Res&unix.POLLIN == 0 || c.More() {
		t.Fatalf("single poll CQE %s: want POLLIN without MORE", ntFmt([]CQE{c}))
	}
	ntRecvFull(t, r, fd, 1, 1201)
	ntExpectQuiet(t, r, 20*time.Millisecond) // single shot: disarmed

	const pollUD, recvUD, removeUD = 1210, 1211, 1212
	s = ntSQE(t, r)
	s.PrepPollMultishot(fd, unix.POLLIN)
	s.UserData = pollUD
	ntSubmit(t, r, 1)
	ntExpectQuiet(t, r, 20*time.Millisecond)
	checkPoll := func(c CQE) {
		t.Helper()
		if c.UserData != pollUD || c.Res < 0 || c.Res&unix.POLLIN == 0 || !c.More() {
			t.Fatalf("multishot poll CQE %s: want POLLIN with MORE", ntFmt([]CQE{c}))
		}
	}
	buf := make([]byte, 8)
	for i := 0; i < 3; i++ {
		b := []byte{byte('b' + i)}
		if _, err := peer.Write(b); err != nil {
			t.Fatalf("peer write: %v", err)
		}
		checkPoll(ntWait(t, r, 1, ntTimeout)[0])
		// Drain; a late extra readiness CQE is allowed, nothing else.
		s = ntSQE(t, r)
		s.PrepRecv(fd, buf, 0)
		s.UserData = recvUD
		cqes := ntWaitUntil(t, r, ntTimeout, func(c CQE) bool { return c.UserData == recvUD })
		for _, c := range cqes[:len(cqes)-1] {
			checkPoll(c)
		}
		rc := cqes[len(cqes)-1]
		if rc.Res != 1 || buf[0] != b[0] {
			t.Fatalf("recv after poll %d: res %d (%v) byte %q, want %q", i, rc.Res, rc.Err(), buf[0], b)
		}
	}
	runtime.KeepAlive(buf)

	s = ntSQE(t, r)
	s.PrepPollRemove(pollUD)
	s.UserData = removeUD
	var removed, final bool
	for !removed || !final {
		c := ntWait(t, r, 1, ntTimeout)[0]
		switch {
		case c.UserData == removeUD:
			ntWantRes(t, "poll remove", c, 0)
			removed = true
		case c.UserData == pollUD && !c.More():
			ntWantErr(t, "removed multishot poll", c, unix.ECANCELED)
			final = true
		case c.UserData == pollUD:
			checkPoll(c)
		default:
			t.Fatalf("unexpected CQE %s", ntFmt([]CQE{c}))
		}
	}
	// Removed: new data posts nothing.
	if _, err := peer.Write([]byte("z")); err != nil {
		t.Fatalf("peer write: %v", err)
	}
	ntExpectQuiet(t, r, 50*time.Millisecond)
	ntRecvFull(t, r, fd, 1, 1213)
	// Removing it again finds nothing.
	s = ntSQE(t, r)
	s.PrepPollRemove(pollUD)
	s.UserData = removeUD
	ntWantErr(t, "second poll remove", ntWait(t, r, 1, ntTimeout)[0], unix.ENOENT)
}

// 11. MSG_RING: ring A posts a CQE on ring B.
func TestNetMsgRing(t *testing.T) {
	ntLeakCheck(t)
	a := lockedRing(t, Config{Entries: 64})
	b := lockedRing(t, Config{Entries: 64})

	s := ntSQE(t, a)
	s.PrepMsgRing(b.Fd(), 42, 0xabc, 0)
	s.UserData = 1300
	ca := ntWait(t, a, 1, ntTimeout)[0]
	if ca.UserData != 1300 || ca.Res != 0 {
		t.Fatalf("msg_ring on the sender: %s, want res 0", ntFmt([]CQE{ca}))
	}
	cb := ntWait(t, b, 1, ntTimeout)[0]
	if cb.UserData != 0xabc || cb.Res != 42 || cb.Flags != 0 {
		t.Fatalf("msg_ring on the target: %s, want user data 0xabc res 42 flags 0", ntFmt([]CQE{cb}))
	}
	ntExpectQuiet(t, a, 10*time.Millisecond)
	ntExpectQuiet(t, b, 10*time.Millisecond)

	// And back, B to A.
	s = ntSQE(t, b)
	s.PrepMsgRing(a.Fd(), 7, 0xdef, 0)
	s.UserData = 1301
	ntWantRes(t, "msg_ring B->A", ntWait(t, b, 1, ntTimeout)[0], 0)
	if c := ntWait(t, a, 1, ntTimeout)[0]; c.UserData != 0xdef || c.Res != 7 {
		t.Fatalf("msg_ring B->A on A: %s", ntFmt([]CQE{c}))
	}

	// A target that is not a ring: EBADFD.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	defer ntClose(t, p[0])
	defer ntClose(t, p[1])
	s = ntSQE(t, a)
	s.PrepMsgRing(p[0], 1, 2, 0)
	s.UserData = 1302
	ntWantErr(t, "msg_ring to a pipe", ntWait(t, a, 1, ntTimeout)[0], unix.EBADFD)
	ntExpectQuiet(t, b, 10*time.Millisecond)
}

// 12. sending to a peer that closed ends in EPIPE or ECONNRESET; the ring
// keeps working.
func TestNetSendToClosedPeer(t *testing.T) {
	ntLeakCheck(t)
	r := lockedRing(t, Config{Entries: 64})

	fd, peer := ntPair(t)
	defer ntClose(t, fd)
	if err := peer.Close(); err != nil {
		t.Fatal(err)
	}

	// First the FIN: recv reads EOF.
	buf := make([]byte, 16)
	s := ntSQE(t, r)
	s.PrepRecv(fd, buf, 0)
	s.UserData = 1400
	ntWantRes(t, "recv after the peer closed", ntWait(t, r, 1, ntTimeout)[0], 0)

	payload := ntRandom(4096)
	var final error
	sends := 0
	for deadline := time.Now().Add(ntTimeout); time.Now().Before(deadline); sends++ {
		s = ntSQE(t, r)
		s.PrepSend(fd, payload, unix.MSG_NOSIGNAL)
		s.UserData = 1401
		c := ntWait(t, r, 1, ntTimeout)[0]
		if c.Res >= 0 {
			time.Sleep(5 * time.Millisecond) // let the RST come back
			continue
		}
		final = c.Err()
		break
	}
	runtime.KeepAlive(payload)
	if !errors.Is(final, unix.EPIPE) && !errors.Is(final, unix.ECONNRESET) {
		t.Fatalf("after %d sends to a closed peer: %v, want EPIPE or ECONNRESET", sends, final)
	}
	t.Logf("send failed with %v after %d successful sends", final, sends)
	// The error stays with the socket, and the ring is unaffected.
	s = ntSQE(t, r)
	s.PrepSend(fd, payload, unix.MSG_NOSIGNAL)
	s.UserData = 1402
	ntWantErr(t, "send again", ntWait(t, r, 1, ntTimeout)[0], unix.EPIPE)
	ntNop(t, r, 1403)
	runtime.KeepAlive(buf)
}

// 13. Close with a recv, a multishot accept and a multishot recv in flight
// returns promptly; nothing leaks; a second Close returns ErrClosed.
func TestNetCloseRingWithOpsInFlight(t *testing.T) {
	ntLeakCheck(t)

	baseline := ntFdCount(t)
	r := lockedRing(t, Config{Entries: 64})
	fd, peer := ntPair(t)
	fd2, peer2 := ntPair(t)
	lfd, _ := ntListen(t)
	closeAll := func() {
		for _, f := range []int{fd, fd2, lfd} {
			ntClose(t, f)
		}
		peer.Close()
		peer2.Close()
	}
	closed := false
	defer func() {
		if !closed {
			closeAll()
		}
	}()

	br, err := r.NewBufRing(3, 4, 64)
	if err != nil {
		t.Fatalf("NewBufRing: %v", err)
	}
	buf := make([]byte, 64)
	s := ntSQE(t, r)
	s.PrepRecv(fd, buf, 0)
	s.UserData = 1
	s = ntSQE(t, r)
	s.PrepMultishotAccept(lfd, unix.SOCK_CLOEXEC)
	s.UserData = 2
	s = ntSQE(t, r)
	s.PrepRecvMultishot(fd2, 3, 0)
	s.UserData = 3
	ntSubmit(t, r, 3)
	ntExpectQuiet(t, r, 20*time.Millisecond)

	withRing := ntFdCount(t)
	start := time.Now()
	err = r.Close()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Close with requests in flight: %v", err)
	}
	if elapsed > time.Second {
		t.Fatalf("Close took %v", elapsed)
	}
	t.Logf("Close with 3 requests in flight took %v", elapsed)
	if got := ntFdCount(t); got != withRing-1 {
		t.Fatalf("after Close: %d fds, want %d (the ring fd gone)", got, withRing-1)
	}
	if err := r.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	if _, err := r.Submit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close: %v, want ErrClosed", err)
	}
	if _, err := r.SubmitAndWaitTimeout(1, time.Millisecond); !errors.Is(err, ErrClosed) {
		t.Fatalf("SubmitAndWaitTimeout after Close: %v, want ErrClosed", err)
	}
	if err := br.Close(); err != nil {
		t.Fatalf("BufRing.Close after the ring closed: %v", err)
	}

	closed = true
	closeAll()
	if got := ntFdCount(t); got != baseline {
		t.Fatalf("after closing the ring and the sockets: %d fds, want the baseline %d", got, baseline)
	}
	// The kernel cancels the requests asynchronously after the ring fd is
	// gone; keep the recv buffer alive a little beyond that.
	time.Sleep(20 * time.Millisecond)
	runtime.KeepAlive(buf)
}

// 14. bad input comes back as CQE errors, and the ring keeps working.
func TestNetBadInput(t *testing.T) {
	ntLeakCheck(t)
	r := lockedRing(t, Config{Entries: 64})

	buf := make([]byte, 16)
	defer runtime.KeepAlive(buf)

	s := ntSQE(t, r)
	s.PrepRecv(99999, buf, 0)
	s.UserData = 1
	ntWantErr(t, "recv on fd 99999", ntWait(t, r, 1, ntTimeout)[0], unix.EBADF)

	s = ntSQE(t, r)
	s.PrepRecv(5, buf, 0)
	s.Flags |= SQEFixedFile
	s.UserData = 2
	ntWantErr(t, "recv on a fixed slot with no file table", ntWait(t, r, 1, ntTimeout)[0], unix.EBADF)

	// A port with a bound socket that does not listen: connection refused.
	bfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	defer ntClose(t, bfd)
	if err := unix.Bind(bfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	defer ntClose(t, cfd)
	sa, saLen := ntSockaddr(ntLocalPort(t, bfd))
	s = ntSQE(t, r)
	s.PrepConnect(cfd, sa, saLen)
	s.UserData = 3
	ntWantErr(t, "connect to a closed port", ntWait(t, r, 1, ntTimeout)[0], unix.ECONNREFUSED)
	runtime.KeepAlive(sa)

	// Accept on a socket that does not listen: EINVAL.
	s = ntSQE(t, r)
	s.PrepAccept(bfd, nil, nil, 0)
	s.UserData = 4
	ntWantErr(t, "accept on a non-listening socket", ntWait(t, r, 1, ntTimeout)[0], unix.EINVAL)

	// Socket ops on a pipe: ENOTSOCK.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	defer ntClose(t, p[0])
	defer ntClose(t, p[1])
	s = ntSQE(t, r)
	s.PrepSend(p[1], buf, unix.MSG_NOSIGNAL)
	s.UserData = 5
	ntWantErr(t, "send on a pipe", ntWait(t, r, 1, ntTimeout)[0], unix.ENOTSOCK)

	// Recv on a listening socket: ENOTCONN.
	lfd, _ := ntListen(t)
	defer ntClose(t, lfd)
	s = ntSQE(t, r)
	s.PrepRecv(lfd, buf, 0)
	s.UserData = 6
	ntWantErr(t, "recv on a listening socket", ntWait(t, r, 1, ntTimeout)[0], unix.ENOTCONN)

	ntNop(t, r, 7)
}
