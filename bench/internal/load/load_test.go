package load

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/uringd/uringd/bench/internal/servers"
)

func netEcho(t *testing.T) string {
	s, err := servers.StartNetEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Addr()
}

func TestEcho(t *testing.T) {
	addr := netEcho(t)
	started := false
	res, err := Echo(addr, 4, 64, 20*time.Millisecond, 100*time.Millisecond, func() { started = true })
	if err != nil {
		t.Fatal(err)
	}
	if !started || res.Messages <= 0 || res.Conns != 4 || res.Errors != 0 || res.Seconds < 0.09 {
		t.Fatalf("got %+v (started %v)", res, started)
	}
	if _, err := Echo("127.0.0.1:1", 1, 64, 0, time.Millisecond, nil); err == nil {
		t.Fatal("dialling a closed port succeeded")
	}
}

func TestOpenIdle(t *testing.T) {
	addr := netEcho(t)
	cs, err := OpenIdle(context.Background(), addr, 50, ProtoEcho, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 50 {
		t.Fatalf("%d connections", len(cs))
	}
	for _, c := range cs {
		c.Close()
	}

	s, err := servers.StartNetHTTP("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cs, err = OpenIdle(context.Background(), s.Addr(), 20, ProtoHTTP, "/")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		c.Close()
	}
	if _, err := OpenIdle(context.Background(), s.Addr(), 1, "gopher", "/"); err == nil {
		t.Fatal("unknown protocol accepted")
	}
}

func TestReadResponse(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhelloHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
	br := bufio.NewReader(strings.NewReader(in))
	if status, body, err := ReadResponse(br); err != nil || status != 200 || string(body) != "hello" {
		t.Fatalf("%d %q %v", status, body, err)
	}
	if status, body, err := ReadResponse(br); err != nil || status != 404 || len(body) != 0 {
		t.Fatalf("%d %q %v", status, body, err)
	}
	for _, bad := range []string{"SSH-2.0\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n"} {
		if _, _, err := ReadResponse(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRTT(t *testing.T) {
	res, err := RTT(netEcho(t), time.Millisecond, 50*time.Millisecond, 64)
	if err != nil {
		t.Fatal(err)
	}
	if res.N < 10 || res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
		t.Fatalf("got %+v", res)
	}
}

func TestSummarise(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Microsecond)
	}
	if r := Summarise(d); r.N != 100 || r.P50 != 50 || r.P99 != 99 || r.Max != 100 {
		t.Fatalf("got %+v", r)
	}
	if r := Summarise(nil); r.N != 0 {
		t.Fatalf("got %+v", r)
	}
}
