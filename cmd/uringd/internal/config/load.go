package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// rawConfig is what the file is decoded into first. The arrays of tables
// stay undecoded (Primitive) so that each element is decoded on its own:
// an error then names the element ("mount[1].root") and its line, which
// the decoder alone cannot, and each element starts from its defaults.
type rawConfig struct {
	Config
	Listen []toml.Primitive `toml:"listen"`
	Mounts []toml.Primitive `toml:"mount"`
}

// parseFile decodes a TOML document named name onto c, which holds the
// defaults. Unknown keys, keys in the wrong case, type errors and syntax
// errors are refused with the line they are on. Relative mount roots are
// made relative to dir.
func parseFile(c *Config, name string, data []byte, dir string) (*origin, error) {
	o := &origin{file: name, lines: indexKeys(string(data))}
	raw := rawConfig{Config: *c}
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return o, joinErrors([]*Error{o.syntaxError(pe, string(data))})
		}
		return o, joinErrors([]*Error{o.decodeError(err, "", 0)})
	}
	var errs []*Error
	if raw.Listen != nil {
		raw.Config.Listen = make([]Listener, len(raw.Listen))
		for i, p := range raw.Listen {
			raw.Config.Listen[i] = defaultListener()
			if err := md.PrimitiveDecode(p, &raw.Config.Listen[i]); err != nil {
				errs = append(errs, o.decodeError(err, "listen", i))
			}
		}
	}
	if raw.Mounts != nil {
		raw.Config.Mounts = make([]Mount, len(raw.Mounts))
		for i, p := range raw.Mounts {
			m := DefaultMount()
			if err := md.PrimitiveDecode(p, &m); err != nil {
				errs = append(errs, o.decodeError(err, "mount", i))
			}
			if m.Root != "" && !filepath.IsAbs(m.Root) {
				m.Root = filepath.Join(dir, m.Root)
			}
			raw.Config.Mounts[i] = m
		}
	}
	errs = append(errs, o.strictKeys(md)...)
	if len(errs) > 0 {
		return o, joinErrors(errs)
	}
	*c = raw.Config
	return o, nil
}

// lineKeyRE matches the prefix BurntSushi/toml puts on decoding errors
// that are not ParseErrors.
var lineKeyRE = regexp.MustCompile(`^toml: (?:line \d+ )?\(last key "([^"]*)"\): `)

// syntaxError locates a TOML syntax error in src by the bytes the
// decoder blames, Start to Start+Len: its line is that of the last of
// them (a bad escape inside a multi-line string is on its own line, not
// where the string opens), since the decoder's own line counts a newline
// it stopped at (an unclosed "[[mount]" is reported on the line after).
// The decoder's last key is whatever was parsed before, often the
// previous table, so the error names a key only when Start lies in that
// key's value.
func (o *origin) syntaxError(pe toml.ParseError, src string) *Error {
	start := min(max(pe.Position.Start, 0), len(src))
	last := min(start+max(pe.Position.Len, 1)-1, len(src))
	return &Error{
		File: o.file,
		Line: 1 + strings.Count(src[:last], "\n"),
		Key:  valueKeyAt(src, start),
		Msg:  pe.Message,
	}
}

// decodeError locates a decoding error. For an element of an array of
// tables (array "mount", element i), the key is numbered and its line
// looked up here, since the decoder knows neither.
func (o *origin) decodeError(err error, array string, i int) *Error {
	var key, msg string
	line := 0
	var pe toml.ParseError
	if errors.As(err, &pe) {
		key, msg, line = pe.LastKey, pe.Message, pe.Position.Line
	} else {
		msg = strings.TrimPrefix(err.Error(), "toml: ")
		if m := lineKeyRE.FindStringSubmatch(err.Error()); m != nil {
			key, msg = m[1], err.Error()[len(m[0]):]
		}
	}
	if array != "" {
		numbered := array + "[" + strconv.Itoa(i) + "]"
		if rest, ok := strings.CutPrefix(key, array); ok {
			key = numbered + rest
		} else {
			key = numbered
		}
	}
	if n := o.lines.line(key); n > 0 && (array != "" || line == 0) {
		line = n
	}
	return &Error{File: o.file, Line: line, Key: key, Msg: msg}
}

// strictKeys refuses keys the Config has no place for: those the
// decoder left undecoded, and those it matched to a field only because it
// ignores case. A known key left undecoded because an earlier error
// stopped its table's decoding is not reported again.
func (o *origin) strictKeys(md toml.MetaData) []*Error {
	undecoded := map[string]bool{}
	for _, k := range md.Undecoded() {
		undecoded[k.String()] = true
	}
	var errs []*Error
	reported := map[string]bool{}
	for _, k := range md.Keys() {
		key := k.String()
		if knownKeys[key] {
			continue
		}
		reported[key] = true
		if reported[parentKey(key)] {
			continue // inside an unknown table, which is reported
		}
		msg := "unknown key" + suggest(key)
		if !undecoded[key] {
			msg += " (keys are case-sensitive)"
		}
		errs = append(errs, o.keyErrors(key, msg)...)
	}
	return errs
}

// keyErrors reports msg at every line that defines key (several when
// elements of an array of tables share the mistake).
func (o *origin) keyErrors(key, msg string) []*Error {
	lines := o.lines.linesOf(key)
	if len(lines) == 0 {
		return []*Error{{File: o.file, Line: o.lines.line(key), Key: key, Msg: msg}}
	}
	errs := make([]*Error, len(lines))
	for i, n := range lines {
		errs[i] = &Error{File: o.file, Line: n, Key: key, Msg: msg}
	}
	return errs
}

// knownKeys holds every key path the Config accepts, arrays unnumbered:
// "mount.root", "limits.max_conns".
var knownKeys = func() map[string]bool {
	keys := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("toml"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			key := join(prefix, name)
			keys[key] = true
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(ft, key)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return keys
}()

// suggest returns ` (did you mean "x"?)` for the known key closest to key
// in the same table, if one is close.
func suggest(key string) string {
	parent, best, bestDist := parentKey(key), "", 3
	name := strings.TrimPrefix(key[len(parent):], ".")
	for k := range knownKeys {
		if parentKey(k) != parent {
			continue
		}
		cand := strings.TrimPrefix(k[len(parent):], ".")
		if d := editDistance(strings.ToLower(name), cand); d < bestDist || d == bestDist && cand < best {
			best, bestDist = cand, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// readFile reads a configuration file and returns it with the directory
// its relative paths are relative to.
func readFile(path string) (data []byte, dir string, err error) {
	data, err = os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", err
	}
	return data, filepath.Dir(abs), nil
}
