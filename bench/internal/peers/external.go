package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/uringd/uringd/bench/internal/proc"
)

// Spec is a command line for an external server: argv and environment
// additions. The harness pins it and starts it.
type Spec struct {
	Argv []string
	Env  []string
	// Tree: the server forks (nginx master + worker); measure the whole
	// process tree.
	Tree bool
}

const nginxConf = `# written by uringbench: one worker, fixed responses, sendfile for files
worker_processes 1;
daemon off;
master_process on;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
worker_rlimit_nofile {{.NoFile}};
events {
    worker_connections {{.Conns}};
    use epoll;
}
http {
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    client_body_temp_path {{.Dir}}/body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;
    server {
        listen {{.Addr}} backlog=4096;
        server_name _;
        location = /json {
            default_type application/json;
            return 200 '{"message":"Hello, World!"}';
        }
{{- if .Root}}
        location /static/ {
            alias {{.Root}}/;
        }
{{- end}}
        location / {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
`

// NginxConfig is what the nginx config template needs.
type NginxConfig struct {
	Dir    string // scratch directory: config, pid, logs, temp paths
	Addr   string // 127.0.0.1:PORT
	Root   string // served under /static/ when set
	Conns  int    // worker_connections
	NoFile int    // worker_rlimit_nofile
}

// Nginx writes an nginx.conf into cfg.Dir and returns the command that
// runs it in the foreground. Paths nginx's worker must read are made
// world-readable (the worker drops to an unprivileged user when the
// master runs as root).
func Nginx(cfg NginxConfig) (Spec, error) {
	bin, err := proc.LookPath("nginx")
	if err != nil {
		return Spec{}, err
	}
	if cfg.Conns == 0 {
		cfg.Conns = 20000
	}
	if cfg.NoFile == 0 {
		cfg.NoFile = cfg.Conns + 100
	}
	var buf bytes.Buffer
	if err := template.Must(template.New("nginx").Parse(nginxConf)).Execute(&buf, cfg); err != nil {
		return Spec{}, err
	}
	conf := filepath.Join(cfg.Dir, "nginx.conf")
	if err := os.WriteFile(conf, buf.Bytes(), 0o644); err != nil {
		return Spec{}, err
	}
	for _, d := range []string{cfg.Dir, cfg.Root} {
		if d != "" {
			_ = os.Chmod(d, 0o755)
		}
	}
	argv := []string{bin, "-p", cfg.Dir, "-c", conf, "-e", filepath.Join(cfg.Dir, "error.log")}
	// Check the config first, so a broken one is a clear skip reason.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, append(argv[1:], "-t", "-q")...).CombinedOutput(); err != nil {
		return Spec{}, fmt.Errorf("nginx -t: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return Spec{Argv: argv, Tree: true}, nil
}

const nodeServer = `// written by uringbench: Node.js http, one process
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const [host, port] = [process.argv[2], +process.argv[3]];
const root = process.argv[4] || '';
const server = http.createServer((req, res) => {
  if (req.url === '/json') {
    const body = JSON.stringify({ message: 'Hello, World!' });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  if (root && req.url.startsWith('/static/')) {
    // A path below root (subdirectories allowed, nothing above it).
    const rel = path.normalize(decodeURIComponent(req.url.slice(8).split('?')[0]));
    if (rel.startsWith('..') || path.isAbsolute(rel)) {
      res.writeHead(404, { 'Content-Length': 0 });
      res.end();
      return;
    }
    const file = path.join(root, rel);
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) {
        res.writeHead(404, { 'Content-Length': 0 });
        res.end();
        return;
      }
      // One byte range (bytes=a-b, a-, -n), as the video-like streams ask.
      const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range || '');
      if (m && (m[1] !== '' || m[2] !== '')) {
        let start, end;
        if (m[1] === '') {
          start = Math.max(st.size - +m[2], 0);
          end = st.size - 1;
        } else {
          start = +m[1];
          end = m[2] === '' ? st.size - 1 : Math.min(+m[2], st.size - 1);
        }
        if (start >= st.size || start > end) {
          res.writeHead(416, { 'Content-Range': 'bytes */' + st.size, 'Content-Length': 0 });
          res.end();
          return;
        }
        res.writeHead(206, {
          'Content-Type': 'application/octet-stream',
          'Content-Length': end - start + 1,
          'Content-Range': 'bytes ' + start + '-' + end + '/' + st.size,
        });
        fs.createReadStream(file, { start, end }).pipe(res);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': st.size });
      fs.createReadStream(file).pipe(res);
    });
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 13 });
  res.end('Hello, World!');
});
// Idle keep-alive connections stay open for the idle scenario.
server.keepAliveTimeout = 300000;
server.headersTimeout = 301000;
server.requestTimeout = 0;
server.listen(port, host, 4096, () => console.log('LISTENING ' + host + ':' + port));
process.on('SIGTERM', () => process.exit(0));
`

// Node writes server.js into dir and returns the command that runs it.
func Node(dir, host, port, root string) (Spec, error) {
	bin, err := proc.LookPath("node")
	if err != nil {
		return Spec{}, err
	}
	js := filepath.Join(dir, "server.js")
	if err := os.WriteFile(js, []byte(nodeServer), 0o644); err != nil {
		return Spec{}, err
	}
	argv := []string{bin, js, host, port}
	if root != "" {
		argv = append(argv, root)
	}
	return Spec{Argv: argv}, nil
}

// HaveLiburing reports why the C anchors cannot be built, or nil.
func HaveLiburing() error {
	if _, err := proc.LookPath("gcc"); err != nil {
		return errors.New("gcc not installed")
	}
	if _, err := os.Stat("/usr/include/liburing.h"); err != nil {
		return errors.New("liburing-dev not installed (apt-get install -y liburing-dev)")
	}
	return nil
}

// BuildAnchor compiles src (a C file under bench/anchors) with
// gcc -O2 -luring into dir and returns the binary.
func BuildAnchor(src, dir string) (string, error) {
	if err := HaveLiburing(); err != nil {
		return "", err
	}
	if _, err := os.Stat(src); err != nil {
		return "", fmt.Errorf("anchor source: %w", err)
	}
	bin := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), ".c"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "gcc", "-O2", "-Wall", "-o", bin, src, "-luring").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("gcc %s: %v: %s", filepath.Base(src), err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}
