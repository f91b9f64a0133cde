package content

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

func TestParseHTTPDate(t *testing.T) {
	const rfcExample = 784111777 // Sun, 06 Nov 1994 08:49:37 GMT
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		// RFC 9110 §5.6.7's three forms of one instant.
		{"Sun, 06 Nov 1994 08:49:37 GMT", rfcExample, true},
		{"Sunday, 06-Nov-94 08:49:37 GMT", rfcExample, true},
		{"Sun Nov  6 08:49:37 1994", rfcExample, true},

		{" Sun, 06 Nov 1994 08:49:37 GMT\t", rfcExample, true},
		{"sun, 06 nov 1994 08:49:37 GMT", rfcExample, true},
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0, true},
		{"Wed, 31 Dec 1969 23:59:59 GMT", -1, true},
		{"Sat, 01 Jan 0000 00:00:00 GMT", -62167219200, true},
		{"Fri, 31 Dec 9999 23:59:59 GMT", 253402300799, true},
		{"Tue, 29 Feb 2000 12:00:00 GMT", 951825600, true},
		{"Sun, 06 Nov 1994 23:59:60 GMT", rfcExample - 8*3600 - 49*60 - 37 + 86400, true}, // leap second
		{"Mon, 06 Nov 1994 08:49:37 GMT", rfcExample, true},                               // day name not checked against the date
		{"Sun Nov 16 08:49:37 1994", rfcExample + 10*86400, true},
		{"Wednesday, 09-Nov-94 08:49:37 GMT", rfcExample + 3*86400, true},

		{"", 0, false},
		{"Sun, 06 Nov 1994 08:49:37 UTC", 0, false},
		{"Sun, 06 Nov 1994 08:49:37 gmt", 0, false},
		{"Sun, 6 Nov 1994 08:49:37 GMT", 0, false},
		{"Sun, 06 Nov 94 08:49:37 GMT", 0, false},
		{"Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", 0, false},
		{"Sun, 06 Nov 1994 24:00:00 GMT", 0, false},
		{"Sun, 06 Nov 1994 08:60:00 GMT", 0, false},
		{"Sun, 06 Nov 1994 08:49:61 GMT", 0, false},
		{"Sun, 31 Nov 1994 08:49:37 GMT", 0, false},
		{"Sun, 00 Nov 1994 08:49:37 GMT", 0, false},
		{"Sun, 29 Feb 1900 08:49:37 GMT", 0, false},
		{"Sun, 06 Foo 1994 08:49:37 GMT", 0, false},
		{"Xyz, 06 Nov 1994 08:49:37 GMT", 0, false},
		{"Sun, 06 Nov 1994 08-49-37 GMT", 0, false},
		{"Sun, 06 Nov 1994 08:49:3x GMT", 0, false},
		{"Sun, 06 Nov -994 08:49:37 GMT", 0, false},
		{"Sun,06 Nov 1994 08:49:37 GMT ", 0, false},
		{"Sun Nov 6 08:49:37 1994", 0, false},
		{"Sun Nov  6 08:49:37 94", 0, false},
		{"Sun Nov 6  08:49:37 1994", 0, false},
		{"Sunday, 06-Nov-1994 08:49:37 GMT", 0, false},
		{"Sundae, 06-Nov-94 08:49:37 GMT", 0, false},
		{"Sun, 06-Nov-94 08:49:37 GMT", 0, false},
		{"Sunday 06-Nov-94 08:49:37 GMT", 0, false},
		{"1994-11-06T08:49:37Z", 0, false},
		{"784111777", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseHTTPDate([]byte(tt.in), 2026)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("parseHTTPDate(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseHTTPDateRFC850Century(t *testing.T) {
	// §5.6.7: a two-digit year more than 50 years ahead is in the past.
	for _, tt := range []struct {
		yy       string
		nowYear  int
		wantYear int
	}{
		{"94", 2026, 1994},
		{"26", 2026, 2026},
		{"76", 2026, 2076},
		{"77", 2026, 1977},
		{"00", 2026, 2000},
		{"49", 2099, 2149},
		{"50", 2099, 2050},
		{"48", 2099, 2148},
		{"10", 2101, 2110},
	} {
		sec, ok := parseHTTPDate([]byte("Sunday, 06-Nov-"+tt.yy+" 08:49:37 GMT"), tt.nowYear)
		if y := time.Unix(sec, 0).UTC().Year(); !ok || y != tt.wantYear {
			t.Errorf("year %s in %d: %d, %v; want %d", tt.yy, tt.nowYear, y, ok, tt.wantYear)
		}
	}
	// Without a year, the clock decides: two-digit year of this year.
	now := time.Now().UTC()
	v := now.Format("Monday, 02-Jan-06 15:04:05 GMT")
	got, ok := ParseHTTPDate([]byte(v))
	if !ok || got.Year() != now.Year() {
		t.Errorf("ParseHTTPDate(%q) = %v, %v", v, got, ok)
	}
}

// TestHTTPDateNetHTTP compares formatting with time.Format(http.TimeFormat)
// and parsing of all three forms with http.ParseTime, over random instants.
func TestHTTPDateNetHTTP(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lo, hi := minHTTPDate.Unix(), maxHTTPDate.Unix()
	for range 20000 {
		sec := lo + rng.Int64N(hi-lo+1)
		if rng.IntN(4) == 0 {
			sec = rng.Int64N(1 << 32) // around now, where dates matter
		}
		tm := time.Unix(sec, rng.Int64N(1e9))
		s := string(AppendHTTPDate(nil, tm))
		if want := tm.UTC().Format(http.TimeFormat); s != want {
			t.Fatalf("AppendHTTPDate(%v) = %q; want %q", tm, s, want)
		}
		for _, layout := range []string{http.TimeFormat, time.ANSIC} {
			v := tm.UTC().Format(layout)
			got, ok := ParseHTTPDate([]byte(v))
			want, err := http.ParseTime(v)
			if !ok || err != nil || !got.Equal(want) || got.Unix() != sec {
				t.Fatalf("ParseHTTPDate(%q) = %v, %v; net/http %v, %v", v, got, ok, want, err)
			}
		}
	}
}

func TestAppendHTTPDate(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(784111777, 999999999), "Sun, 06 Nov 1994 08:49:37 GMT"},
		{time.Date(1994, 11, 6, 9, 49, 37, 0, time.FixedZone("CET", 3600)), "Sun, 06 Nov 1994 08:49:37 GMT"},
		{time.Time{}, "Mon, 01 Jan 0001 00:00:00 GMT"},
		{time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC), "Sat, 01 Jan 0000 00:00:00 GMT"},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "Fri, 31 Dec 9999 23:59:59 GMT"},
		{time.Date(9999, 12, 31, 23, 59, 59, 999, time.UTC), "Fri, 31 Dec 9999 23:59:59 GMT"},
	} {
		if got := string(AppendHTTPDate([]byte("x"), tt.t)); got != "x"+tt.want {
			t.Errorf("AppendHTTPDate(%v) = %q; want %q", tt.t, got, tt.want)
		}
	}
}
