package h1

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// decodeAll runs d over in, feeding it in pieces of at most step bytes (0:
// all at once), and returns the data, the bytes consumed up to the end of
// the body, and the final error (io.EOF on success).
func decodeAll(d *ChunkedDecoder, in []byte, step int) (data []byte, n int, err error) {
	avail := 0 // in[:avail] has been handed to the decoder
	for {
		if avail == n || step == 0 {
			avail = len(in)
			if step > 0 && n+step < len(in) {
				avail = n + step
			}
		}
		chunk, m, err := d.Decode(in[n:avail])
		if m < len(chunk) || m > avail-n {
			return nil, n, fmt.Errorf("consumed %d of %d bytes with %d of data", m, avail-n, len(chunk))
		}
		if len(chunk) > 0 && !within(chunk, in[n:avail]) {
			return nil, n, fmt.Errorf("data does not alias the input")
		}
		data = append(data, chunk...)
		n += m
		switch {
		case err == ErrIncomplete:
			if avail == len(in) {
				return data, n, err
			}
		case err != nil:
			return data, n, err
		case len(chunk) == 0:
			return data, n, fmt.Errorf("nil error without data")
		}
	}
}

type chunkCase struct {
	name   string
	in     string
	data   string
	status int // 0: valid
	lim    *Limits
}

var chunkCases = []chunkCase{
	{name: "simple", in: "5\r\nhello\r\n0\r\n\r\n", data: "hello"},
	{name: "empty body", in: "0\r\n\r\n", data: ""},
	{name: "several chunks, hex sizes", in: "3\r\nabc\r\nA\r\n0123456789\r\nf\r\n0123456789abcde\r\n0\r\n\r\n", data: "abc0123456789" + "0123456789abcde"},
	{name: "upper-case hex and leading zeros", in: "00A\r\n0123456789\r\n0000\r\n\r\n", data: "0123456789"},
	{name: "16 digits", in: "0000000000000001\r\nx\r\n0\r\n\r\n", data: "x"},
	{name: "extension", in: "5;name\r\nhello\r\n0;last=yes\r\n\r\n", data: "hello"},
	{name: "extension with BWS", in: "5 ; a = b ;c\t;d=\"q \\\" s\"\r\nhello\r\n0\r\n\r\n", data: "hello"},
	{name: "extension quoted obs-text", in: "1;a=\"\xe9\"\r\nx\r\n0\r\n\r\n", data: "x"},
	{name: "trailers", in: "1\r\nx\r\n0\r\nExpires: never\r\nX-Sum: abc \t\r\n\r\n", data: "x"},
	{name: "trailer empty value", in: "0\r\nX:\r\n\r\n", data: ""},
	{name: "data with CRLF inside", in: "4\r\n\r\n\r\n\r\n0\r\n\r\n", data: "\r\n\r\n"},

	{name: "no digits", in: "\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "non-hex", in: "g\r\n", status: 400},
	{name: "sign", in: "+5\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "0x prefix", in: "0x5\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "17 digits", in: "00000000000000001\r\nx\r\n0\r\n\r\n", status: 400},
	{name: "size over int64", in: "8000000000000000\r\n", status: 400},
	{name: "size max int64 over body limit", in: "7fffffffffffffff\r\n", status: 413},
	{name: "body limit", in: "6\r\nhello!\r\n0\r\n\r\n", lim: &Limits{MaxBodyBytes: 5}, status: 413},
	{name: "body limit across chunks", in: "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", lim: &Limits{MaxBodyBytes: 5}, status: 413},
	{name: "body at limit", in: "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", lim: &Limits{MaxBodyBytes: 5}, data: "abcde"},
	{name: "bare LF after size", in: "5\nhello\r\n0\r\n\r\n", status: 400},
	{name: "bare CR after size", in: "5\rhello\r\n0\r\n\r\n", status: 400},
	{name: "space after size", in: "5 \r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "space before size", in: " 5\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "no CRLF after data", in: "5\r\nhelloX\r\n0\r\n\r\n", status: 400},
	{name: "bare LF after data", in: "5\r\nhello\n0\r\n\r\n", status: 400},
	{name: "data too short", in: "5\r\nhell\r\n0\r\n\r\n", status: 400},
	{name: "bare LF final", in: "0\r\n\n", status: 400},
	{name: "bare LF after last chunk", in: "0\n\r\n", status: 400},
	{name: "ext empty name", in: "5;\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "ext name then space", in: "5;a \r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "ext empty value", in: "5;a=\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "ext bad char", in: "5;a@b\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "ext value bad char", in: "5;a=b@\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "ext unterminated quote", in: "5;a=\"b\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "ext junk after quote", in: "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "ext NUL", in: "5;a\x00\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "ext too long", in: "1;" + strings.Repeat("a", 100) + "\r\nx\r\n0\r\n\r\n", lim: &Limits{MaxChunkExtBytes: 100}, status: 400},
	{name: "ext at limit", in: "1;" + strings.Repeat("a", 98) + "=" + "\"\"\r\nx\r\n0\r\n\r\n", lim: &Limits{MaxChunkExtBytes: 102}, data: "x"},
	{name: "trailer obs-fold", in: "0\r\nA: b\r\n c\r\n\r\n", status: 400},
	{name: "trailer space before colon", in: "0\r\nA : b\r\n\r\n", status: 400},
	{name: "trailer no colon", in: "0\r\nA\r\n\r\n", status: 400},
	{name: "trailer empty name", in: "0\r\n: b\r\n\r\n", status: 400},
	{name: "trailer NUL", in: "0\r\nA: \x00\r\n\r\n", status: 400},
	{name: "trailer bare LF", in: "0\r\nA: b\n\r\n", status: 400},
	{name: "trailer bare CR", in: "0\r\nA: b\rc\r\n\r\n", status: 400},
	{name: "trailer too large", in: "0\r\nA: " + strings.Repeat("b", 100) + "\r\n\r\n", lim: &Limits{MaxTrailerBytes: 100}, status: 431},
	{name: "trailer over default limit", in: "0\r\nA: " + strings.Repeat("b", 16<<10) + "\r\n\r\n", status: 431},
	{name: "ext over default limit", in: "1;a=" + strings.Repeat("b", 4<<10) + "\r\nx\r\n0\r\n\r\n", status: 400},
	{name: "trailer at limit", in: "0\r\nA: " + strings.Repeat("b", 93) + "\r\n\r\n", lim: &Limits{MaxTrailerBytes: 100}, data: ""},
}

func TestChunked(t *testing.T) {
	for _, c := range chunkCases {
		t.Run(c.name, func(t *testing.T) {
			// A following request must not be consumed.
			in := []byte(c.in + "GET / HTTP/1.1\r\n")
			for _, step := range []int{0, 1, 2, 3, 5, 8} {
				var d ChunkedDecoder
				d.Reset(c.lim)
				data, n, err := decodeAll(&d, in, step)
				if c.status != 0 {
					if statusOf(err) != c.status {
						t.Fatalf("step %d: err %v, want status %d", step, err, c.status)
					}
					// A failed decoder stays failed.
					if _, _, err2 := d.Decode([]byte("0\r\n\r\n")); err2 != err {
						t.Fatalf("after failure: %v", err2)
					}
					continue
				}
				if err != io.EOF || string(data) != c.data || n != len(c.in) || !d.Done() || d.Total() != int64(len(c.data)) {
					t.Fatalf("step %d: got %q, %d, %v; want %q, %d", step, data, n, err, c.data, len(c.in))
				}
				if data, m, err := d.Decode(in[n:]); data != nil || m != 0 || err != io.EOF {
					t.Fatalf("after the end: %q, %d, %v", data, m, err)
				}
			}
		})
	}
}

// TestChunkedIncomplete: every strict prefix of a valid body is incomplete.
func TestChunkedIncomplete(t *testing.T) {
	in := []byte("3;a=\"x\"\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n")
	for k := 0; k < len(in); k++ {
		var d ChunkedDecoder
		_, n, err := decodeAll(&d, in[:k], 0)
		if err != ErrIncomplete || n != k {
			t.Fatalf("prefix %d: %d, %v", k, n, err)
		}
	}
}

// encodeChunked encodes data with random chunk sizes, extensions and
// trailers drawn from r.
func encodeChunked(r *rand.Rand, data []byte) []byte {
	var b bytes.Buffer
	for len(data) > 0 {
		n := 1 + r.IntN(len(data))
		if r.IntN(4) == 0 {
			n = min(len(data), 1+r.IntN(4))
		}
		fmt.Fprintf(&b, "%0*x", 1+r.IntN(3), n)
		if r.IntN(3) == 0 {
			b.WriteString([]string{";a", ";a=b", " ;a = \"q\\\"\"", ";x;y=z"}[r.IntN(4)])
		}
		b.WriteString("\r\n")
		b.Write(data[:n])
		b.WriteString("\r\n")
		data = data[n:]
	}
	b.WriteString("0\r\n")
	if r.IntN(2) == 0 {
		b.WriteString("X-Trailer: v\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// TestChunkedRoundTrip: random data, randomly encoded, decodes to itself at
// any split.
func TestChunkedRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		data := make([]byte, r.IntN(300))
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		enc := encodeChunked(r, data)
		for _, step := range []int{0, 1, 1 + r.IntN(10), 1 + r.IntN(100)} {
			var d ChunkedDecoder
			got, n, err := decodeAll(&d, append(enc, "next"...), step)
			if err != io.EOF || n != len(enc) || !bytes.Equal(got, data) {
				t.Fatalf("%q step %d: %d, %v, equal=%v", enc, step, n, err, bytes.Equal(got, data))
			}
		}
	}
}

func TestChunkedZeroAlloc(t *testing.T) {
	in := []byte("5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: v\r\n\r\n")
	var d ChunkedDecoder
	allocs := testing.AllocsPerRun(1000, func() {
		d.Reset(nil)
		rest := in
		for {
			_, n, err := d.Decode(rest)
			rest = rest[n:]
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("decoding allocates %v times", allocs)
	}
}
