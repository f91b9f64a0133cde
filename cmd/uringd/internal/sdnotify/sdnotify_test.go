package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestSend(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	for _, tt := range []struct {
		send func() error
		want string
	}{
		{Ready, "READY=1"},
		{Reloading, "RELOADING=1\nMONOTONIC_USEC="},
		{Stopping, "STOPPING=1"},
		{func() error { return Status("serving 3 mounts") }, "STATUS=serving 3 mounts"},
	} {
		if err := tt.send(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 256)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(buf[:n]), tt.want) {
			t.Errorf("got %q, want %q", buf[:n], tt.want)
		}
	}
}

func TestSendWithoutManager(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if ok, err := Send("READY=1"); ok || err != nil {
		t.Fatalf("Send = %v, %v; want false, nil", ok, err)
	}
}
