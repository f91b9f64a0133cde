package h1

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// tightLimits makes the limit paths reachable by small fuzz inputs.
var tightLimits = &Limits{MaxRequestLine: 48, MaxHeaderBytes: 96, MaxHeaders: 4, MaxBodyBytes: 10, MaxChunkExtBytes: 8, MaxTrailerBytes: 16}

// checkParse checks the properties of Parse on one input under lim.
func checkParse(t *testing.T, in []byte, lim *Limits) {
	var req Request
	n, err := Parse(in, &req, lim)
	switch e := err.(type) {
	case nil:
		if n < len("M / HTTP/1.0\r\n\r\n") || n > len(in) || string(in[n-4:n]) != "\r\n\r\n" {
			t.Fatalf("n = %d for %q", n, in)
		}
		checkAliases(t, &req, in)
		if req.ProtoMajor != 1 || req.ProtoMinor > 1 || req.Chunked && req.ContentLength != -1 || req.ContentLength < -1 {
			t.Fatalf("inconsistent request %s", render(&req))
		}
	case *Error:
		if n != 0 || !e.Close {
			t.Fatalf("n = %d, err = %v", n, err)
		}
		switch e.Status {
		case 400, 413, 414, 431, 501, 505:
		default:
			t.Fatalf("status %d", e.Status)
		}
	default:
		if err != ErrIncomplete || n != 0 {
			t.Fatalf("n = %d, err = %v", n, err)
		}
	}
	want := render(&req)

	// Deterministic, with a fresh and with a reused Request.
	for _, r := range []*Request{new(Request), &req} {
		n2, err2 := Parse(in, r, lim)
		if n2 != n || err2 != err || err == nil && render(r) != want {
			t.Fatalf("second parse: %d, %v, %s; first %d, %v, %s", n2, err2, render(r), n, err, want)
		}
	}

	// Prefixes: ErrIncomplete, or the whole input's result (status).
	step := 1
	if len(in) > 256 {
		step = len(in) / 64
	}
	for k := 0; k < len(in); k += step {
		var r Request
		pn, perr := Parse(in[:k], &r, lim)
		if perr == ErrIncomplete {
			if err == nil && k >= n {
				t.Fatalf("prefix %d incomplete after the head (n=%d)", k, n)
			}
			continue
		}
		if err == nil {
			if k < n || pn != n || perr != nil || render(&r) != want {
				t.Fatalf("prefix %d: %d, %v", k, pn, perr)
			}
		} else if statusOf(perr) != statusOf(err) || err == ErrIncomplete {
			t.Fatalf("prefix %d: %v; whole input: %v", k, perr, err)
		}
	}

	// Two pieces through one Request (the resume path with a multi-byte
	// step) end the same.
	for k := 0; k < len(in); k += step {
		var r Request
		if _, perr := Parse(in[:k], &r, lim); perr != ErrIncomplete {
			continue
		}
		pn, perr := Parse(in, &r, lim)
		if pn != n || statusOf(perr) != statusOf(err) || (perr == nil) != (err == nil) ||
			(perr == ErrIncomplete) != (err == ErrIncomplete) || err == nil && render(&r) != want {
			t.Fatalf("split at %d: %d, %v; whole input: %d, %v", k, pn, perr, n, err)
		}
	}

	// Byte by byte through one Request (the resume path) ends the same.
	var r Request
	for k := 0; k <= len(in); k++ {
		pn, perr := Parse(in[:k], &r, lim)
		if perr == ErrIncomplete && k < len(in) {
			continue
		}
		switch {
		case err == nil:
			if pn != n || perr != nil || k != n || render(&r) != want {
				t.Fatalf("incremental at %d: %d, %v; want %d at %d", k, pn, perr, n, n)
			}
		case statusOf(perr) != statusOf(err) || (perr == ErrIncomplete) != (err == ErrIncomplete):
			t.Fatalf("incremental at %d: %v; whole input: %v", k, perr, err)
		}
		break
	}

	// The body, if chunked, decodes the same in any pieces.
	if err == nil && req.Chunked {
		checkChunked(t, in[n:], lim)
	}
}

// checkChunked decodes in whole and in pieces and compares.
func checkChunked(t *testing.T, in []byte, lim *Limits) {
	var d ChunkedDecoder
	d.Reset(lim)
	data, n, err := decodeAll(&d, in, 0)
	if n > len(in) || err == nil {
		t.Fatalf("decode: %d, %v", n, err)
	}
	if _, ok := err.(*Error); !ok && err != io.EOF && err != ErrIncomplete {
		t.Fatalf("decode: %v", err)
	}
	for _, step := range []int{1, 2, 3, 7, 64} {
		d.Reset(lim)
		data2, n2, err2 := decodeAll(&d, in, step)
		if !bytes.Equal(data2, data) || n2 != n || err2 != err {
			t.Fatalf("step %d: %d, %v; whole: %d, %v", step, n2, err2, n, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		checkParse(t, in, nil)
		checkParse(t, in, tightLimits)
	})
}

func FuzzChunked(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		checkChunked(t, in, nil)
		checkChunked(t, in, tightLimits)

		// in as payload: a random valid encoding of it decodes back to it.
		h := fnv.New64a()
		h.Write(in)
		r := rand.New(rand.NewPCG(h.Sum64(), 0))
		enc := encodeChunked(r, in)
		for _, step := range []int{0, 1, 1 + r.IntN(16)} {
			var d ChunkedDecoder
			d.Reset(&Limits{MaxBodyBytes: -1})
			got, n, err := decodeAll(&d, append(enc[:len(enc):len(enc)], "GET"...), step)
			if err != io.EOF || n != len(enc) || !bytes.Equal(got, in) {
				t.Fatalf("round trip of %q via %q step %d: %q, %d, %v", in, enc, step, got, n, err)
			}
		}
	})
}

// The seed corpus: testdata/fuzz/<target>/table-* hold the table inputs
// (FuzzParse and FuzzNetHTTP: requests; FuzzChunked: bodies), so that CI
// runs every fuzz property on them. Other files there are inputs the
// fuzzers found. Regenerate the table seeds with
//
//	H1_WRITE_CORPUS=1 go test -run TestSeedCorpus ./httpd/internal/h1/

const maxSeed = 4 << 10 // larger table inputs only slow the fuzzers down

func seedFiles() map[string][]byte {
	files := map[string][]byte{}
	slug := regexp.MustCompile(`[^a-z0-9]+`)
	name := func(s string) string {
		return "table-" + strings.Trim(slug.ReplaceAllString(strings.ToLower(s), "-"), "-")
	}
	add := func(target, n string, in []byte) {
		if len(in) <= maxSeed {
			files[filepath.Join("testdata", "fuzz", target, name(n))] = []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", in))
		}
	}
	for _, c := range allCases() {
		add("FuzzParse", c.name, c.input())
		add("FuzzNetHTTP", c.name, c.input())
	}
	for _, c := range chunkCases {
		add("FuzzChunked", c.name, []byte(c.in))
		add("FuzzNetHTTP", "chunked "+c.name, wrapChunked([]byte(c.in)))
	}
	return files
}

func TestSeedCorpus(t *testing.T) {
	write := os.Getenv("H1_WRITE_CORPUS") != ""
	for path, data := range seedFiles() {
		if write {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("seed %s is missing or stale (regenerate: H1_WRITE_CORPUS=1 go test -run TestSeedCorpus)", path)
		}
	}
}

// readCorpus returns the inputs of testdata/fuzz/<target> by file name.
func readCorpus(t testing.TB, target string) map[string][]byte {
	dir := filepath.Join("testdata", "fuzz", target)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("corpus %s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		in, err := parseCorpusFile(data)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out[e.Name()] = in
	}
	return out
}

// parseCorpusFile decodes a one-argument []byte corpus file.
func parseCorpusFile(data []byte) ([]byte, error) {
	lines := strings.Split(string(data), "\n")
	if len(lines) < 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		return nil, fmt.Errorf("not a one-argument []byte corpus file")
	}
	in, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	return []byte(in), err
}
