package servers

import (
	"context"
	"net"
	"os"
	"sync"
	"time"

	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
)

// NbioHTTP is lesismal/nbio's nbhttp engine serving the net/http peer's
// handlers (netHTTPMux, no /static/) with one poller goroutine; the
// handlers run on nbio's default task pool, as nbhttp does out of the box.
type NbioHTTP struct {
	engine *nbhttp.Engine
	addr   string
}

var nbioLogOnce sync.Once

// StartNbioHTTP starts the nbio peer.
func StartNbioHTTP(addr string) (*NbioHTTP, error) {
	// nbio logs to stdout, which is where the harness reads its children's
	// LISTENING line: send it to stderr, warnings and errors only.
	nbioLogOnce.Do(func() {
		logging.Output = os.Stderr
		logging.SetLevel(logging.LevelWarn)
	})
	s := &NbioHTTP{}
	engine := nbhttp.NewEngine(nbhttp.Config{
		Network:           "tcp",
		Addrs:             []string{addr},
		NPoller:           1,
		NListener:         1,
		Handler:           netHTTPMux(nil),
		SupportServerOnly: true,
		MaxLoad:           1 << 20,
		KeepaliveTime:     5 * time.Minute, // idle keep-alive connections stay open
		// Called by Start, before it returns: the bound address (port 0).
		Listen: func(network, addr string) (net.Listener, error) {
			ln, err := net.Listen(network, addr)
			if err == nil {
				s.addr = ln.Addr().String()
			}
			return ln, err
		},
	})
	if err := engine.Start(); err != nil {
		return nil, err
	}
	s.engine = engine
	return s, nil
}

// Addr returns the listening address.
func (s *NbioHTTP) Addr() string { return s.addr }

// Close shuts the engine down, closing every connection.
func (s *NbioHTTP) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.engine.Shutdown(ctx); err != nil {
		s.engine.Stop()
	}
	return nil
}
