package content

import (
	"testing"
	"time"
)

func TestAppendETag(t *testing.T) {
	st := Stat{Ino: 0x1234, Size: 1000, ModTime: time.Unix(0x6543210f, 0x1a)}
	for _, tt := range []struct {
		st   Stat
		enc  Encoding
		want string
	}{
		{st, Identity, `"6543210f.1a-3e8-1234"`},
		{st, Gzip, `"6543210f.1a-3e8-1234-gzip"`},
		{st, Brotli, `"6543210f.1a-3e8-1234-br"`},
		{st, Zstd, `"6543210f.1a-3e8-1234-zstd"`},
		{st, Encoding(200), `"6543210f.1a-3e8-1234"`},
		{Stat{}, Identity, `"fffffff1886e0900.0-0-0"`}, // zero time: year 1
		{Stat{Ino: ^uint64(0), Size: -1, ModTime: time.Unix(-1, 999999999)}, Identity, `"ffffffffffffffff.3b9ac9ff-ffffffffffffffff-ffffffffffffffff"`},
	} {
		got := AppendETag([]byte("x"), tt.st, tt.enc)
		if string(got) != "x"+tt.want {
			t.Errorf("AppendETag(%+v, %v) = %s; want %s", tt.st, tt.enc, got, tt.want)
		}
		if own := parseOwnETag(got[1:]); own.weak || string(own.opaque) != tt.want {
			t.Errorf("tag %s does not parse as a strong entity-tag", got[1:])
		}
		weak := AppendWeakETag(nil, tt.st, tt.enc)
		if string(weak) != "W/"+tt.want {
			t.Errorf("AppendWeakETag = %s", weak)
		}
		if own := parseOwnETag(weak); !own.weak || string(own.opaque) != tt.want {
			t.Errorf("tag %s does not parse as a weak entity-tag", weak)
		}
	}
}

// Every input the tag is derived from changes it.
func TestETagDistinct(t *testing.T) {
	base := Stat{Ino: 7, Size: 100, ModTime: time.Unix(1700000000, 5)}
	variants := []Stat{
		base,
		{Ino: 8, Size: 100, ModTime: base.ModTime},
		{Ino: 7, Size: 101, ModTime: base.ModTime},
		{Ino: 7, Size: 100, ModTime: time.Unix(1700000000, 6)},
		{Ino: 7, Size: 100, ModTime: time.Unix(1700000001, 5)},
	}
	seen := map[string]bool{}
	for _, st := range variants {
		for _, enc := range []Encoding{Identity, Gzip, Brotli, Zstd} {
			tag := string(AppendETag(nil, st, enc))
			if seen[tag] {
				t.Errorf("tag %s repeats", tag)
			}
			seen[tag] = true
		}
	}
}
