// Package sdnotify tells systemd about the daemon's state (sd_notify(3)):
// READY=1 once it serves, RELOADING=1 and READY=1 around a reload,
// STOPPING=1 when it shuts down. Without $NOTIFY_SOCKET (not started by
// systemd with Type=notify) every call does nothing.
package sdnotify

import (
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Send sends state, newline-separated VAR=value assignments, to the
// service manager. It reports whether a manager was there to receive it.
func Send(state string) (bool, error) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return false, nil
	}
	if addr[0] == '@' {
		// The abstract namespace: Go spells it with a leading NUL.
		addr = "\x00" + addr[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, err
	}
	return true, nil
}

// Ready says the daemon has started and serves.
func Ready() error { _, err := Send("READY=1"); return err }

// Reloading says a reload has begun; call Ready when it is done. The
// timestamp lets Type=notify-reload (systemd 253+) match the two.
func Reloading() error {
	_, err := Send("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicUsec(), 10))
	return err
}

// Stopping says the daemon is shutting down.
func Stopping() error { _, err := Send("STOPPING=1"); return err }

// Status sets the one-line status systemctl status shows.
func Status(s string) error { _, err := Send("STATUS=" + s); return err }

func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return time.Now().UnixMicro()
	}
	return ts.Nano() / 1000
}
