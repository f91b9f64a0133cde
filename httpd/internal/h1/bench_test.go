package h1

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// Side-by-side: Parse against net/http's ReadRequest on the same bytes.
// ReadRequest gets a reused bufio.Reader, as in net/http's server. Compare
// only numbers from one run:
//
//	go test -run '^$' -bench BenchmarkParse -benchmem ./httpd/internal/h1/
//
// One run (best of 6; AMD EPYC, 2 vCPUs shared with other jobs, Linux
// 6.18, go1.26.8):
//
//	browser    h1  551 ns/op  1068 MB/s     0 B/op   0 allocs
//	browser    net/http 4534 ns/op   130 MB/s  2024 B/op  26 allocs  (8.2x)
//	plaintext  h1  144 ns/op   653 MB/s     0 B/op   0 allocs
//	plaintext  net/http 1595 ns/op    59 MB/s   984 B/op   9 allocs  (11x)

// browserRequest is a browser GET with 12 header fields (Chrome-like).
const browserRequest = "GET /assets/app.3f9c2b1.js HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"Connection: keep-alive\r\n" +
	"sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n" +
	"sec-ch-ua-mobile: ?0\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n" +
	"sec-ch-ua-platform: \"Linux\"\r\n" +
	"Accept: */*\r\n" +
	"Sec-Fetch-Site: same-origin\r\n" +
	"Sec-Fetch-Mode: no-cors\r\n" +
	"Referer: https://www.example.com/products/42?ref=home\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; _ga=GA1.1.123456789.1699999999\r\n" +
	"\r\n"

// plaintextRequest is a minimal TechEmpower plaintext GET.
const plaintextRequest = "GET /plaintext HTTP/1.1\r\nHost: tfb-server:8080\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n"

func BenchmarkParse(b *testing.B) {
	for _, c := range []struct{ name, in string }{
		{"browser", browserRequest},
		{"plaintext", plaintextRequest},
	} {
		in := []byte(c.in)
		b.Run(c.name+"/h1", func(b *testing.B) {
			var req Request
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(in, &req, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/nethttp", func(b *testing.B) {
			r := bytes.NewReader(in)
			br := bufio.NewReader(r)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(in)
				br.Reset(r)
				if _, err := http.ReadRequest(br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChunked decodes a 64 KiB body sent in 4 KiB chunks.
func BenchmarkChunked(b *testing.B) {
	var body bytes.Buffer
	chunk := bytes.Repeat([]byte("x"), 4096)
	for range 16 {
		body.WriteString("1000\r\n")
		body.Write(chunk)
		body.WriteString("\r\n")
	}
	body.WriteString("0\r\n\r\n")
	in := body.Bytes()
	var d ChunkedDecoder
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		d.Reset(nil)
		rest := in
		for {
			_, n, err := d.Decode(rest)
			rest = rest[n:]
			if err != nil {
				if err.Error() != "EOF" {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
