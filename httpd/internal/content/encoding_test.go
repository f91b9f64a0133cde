package content

import "testing"

func TestNegotiate(t *testing.T) {
	all := EncodingSet(0).Add(Gzip).Add(Brotli).Add(Zstd)
	gz := EncodingSet(0).Add(Gzip)
	gzZstd := gz.Add(Zstd)
	tests := []struct {
		ae    string
		avail EncodingSet
		want  Encoding
		ok    bool
	}{
		{"", all, Identity, true},
		{"  ", all, Identity, true},
		{"gzip, deflate, br, zstd", all, Brotli, true}, // browsers: server order breaks ties
		{"gzip, deflate, br, zstd", gzZstd, Zstd, true},
		{"gzip, deflate, br", gz, Gzip, true},
		{"gzip", 0, Identity, true},
		{"br;q=0.5, gzip", all, Gzip, true},
		{"br;q=0.5, gzip;q=0.8", all, Gzip, true},
		{"br;q=0.8, gzip;q=0.8", all, Brotli, true},
		{"GZIP", gz, Gzip, true},
		{"x-gzip", gz, Gzip, true},
		{"X-Gzip;Q=1", gz, Gzip, true},
		{"gzip;q=0", gz, Identity, true},
		{"gzip;q=0.000", gz, Identity, true},
		{"compress, deflate", all, Identity, true},
		{"*", all, Brotli, true},
		{"*", 0, Identity, true},
		{"*;q=0", all, Identity, false},
		{"*;q=0", 0, Identity, false},
		{"*;q=0, identity", all, Identity, true},
		{"*;q=0, gzip", all, Gzip, true},
		{"*;q=0.5, gzip;q=0.1", gz, Identity, true}, // identity gets *'s q
		{"*, br;q=0", all, Zstd, true},
		{"identity;q=0", 0, Identity, false},
		{"identity;q=0", gz, Identity, false},
		{"identity;q=0, gzip", gz, Gzip, true},
		{"identity;q=0, gzip;q=0", gz, Identity, false},
		{"identity;q=0.5, gzip;q=0.5", gz, Gzip, true},
		{"identity, gzip;q=0.5", gz, Identity, true},
		{"identity;q=1, gzip", gz, Gzip, true},
		{"gzip;q=0.001", gz, Gzip, true}, // still above the default identity
		{"gzip, gzip;q=0", gz, Gzip, true},
		{"gzip;q=0, gzip", gz, Identity, true},
		{"gzip ; q=0.5 ,  br\t;\tq=1", all, Brotli, true},
		{",,gzip,,", gz, Gzip, true},
		{"unknown-coding;q=1, gzip;q=0.1", gz, Gzip, true},
		{"br", gz, Identity, true},
		{"identity", all, Identity, true},

		// Malformed: as if absent.
		{"gzip;q=2", gz, Identity, true},
		{"gzip;q=1.5", gz, Identity, true},
		{"gzip;q=0.1234", gz, Identity, true},
		{"gzip;q=.5", gz, Identity, true},
		{"gzip;q=", gz, Identity, true},
		{"gzip;q", gz, Identity, true},
		{"gzip;level=1", gz, Identity, true},
		{"gzip;q=0.5;q=1", gz, Identity, true},
		{"gzip br", gz, Identity, true},
		{"gzip;", gz, Identity, true},
		{"identity;q=0, \"gzip\"", gz, Identity, true},
		{"identity;q=0, gzip;q=x", gz, Identity, true},
		{"gz\x00ip", gz, Identity, true},
		{";q=1", gz, Identity, true},
	}
	for _, tt := range tests {
		got, ok := Negotiate([]byte(tt.ae), tt.avail)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Negotiate(%q, %b) = %v, %v; want %v, %v", tt.ae, tt.avail, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseQValue(t *testing.T) {
	for in, want := range map[string]int{
		"0": 0, "1": 1000, "0.": 0, "1.": 1000, "0.5": 500, "0.05": 50, "0.005": 5,
		"0.123": 123, "1.0": 1000, "1.000": 1000, "0.999": 999,
		"": -1, "2": -1, "1.001": -1, "1.5": -1, "0.1234": -1, "00": -1, "0,5": -1, "-0": -1, "0.-1": -1,
	} {
		got, ok := parseQValue([]byte(in))
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("parseQValue(%q) = %d; want %d", in, got, want)
		}
	}
}

func TestEncodingNames(t *testing.T) {
	for _, tt := range []struct {
		e            Encoding
		name, suffix string
	}{
		{Identity, "identity", ""},
		{Gzip, "gzip", ".gz"},
		{Brotli, "br", ".br"},
		{Zstd, "zstd", ".zst"},
		{Encoding(9), "invalid", ""},
	} {
		if tt.e.String() != tt.name || tt.e.Suffix() != tt.suffix {
			t.Errorf("%d: %q %q", tt.e, tt.e.String(), tt.e.Suffix())
		}
	}
	var s EncodingSet
	if s.Add(Encoding(9)) != s || s.Has(Encoding(200)) || !s.Add(Zstd).Has(Zstd) || s.Add(Zstd).Has(Gzip) {
		t.Error("EncodingSet misbehaves")
	}
}

func TestVaryAcceptEncoding(t *testing.T) {
	if VaryAcceptEncoding(0) || VaryAcceptEncoding(EncodingSet(0).Add(Identity)) {
		t.Error("Vary with identity only")
	}
	for _, e := range []Encoding{Gzip, Brotli, Zstd} {
		if !VaryAcceptEncoding(EncodingSet(0).Add(e)) {
			t.Errorf("no Vary with %v", e)
		}
	}
}
