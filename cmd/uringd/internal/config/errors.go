package config

import (
	"errors"
	"strconv"
	"strings"
)

// Error is one problem with a configuration, located where the value was
// given: a line of the file, or a flag.
type Error struct {
	File string // the configuration file; "" when a flag or a default gave the value
	Line int    // 1-based line in File; 0 if unknown
	Flag string // the flag that gave the value, without its dash
	Key  string // TOML key path, array elements numbered: "mount[1].root"
	Msg  string
}

// Error formats the problem as "file:line: key: reason" (or
// "flag -name: reason" for a value a flag gave).
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Flag != "":
		b.WriteString("flag -" + e.Flag + ": ")
	case e.File != "":
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
		if e.Key != "" {
			b.WriteString(e.Key + ": ")
		}
	case e.Key != "":
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// fieldError is a problem found by validation, before it is located.
type fieldError struct {
	key, msg string
}

// origin records where values came from, so that errors can say where to
// look.
type origin struct {
	file  string
	lines keyLines
	flags map[string]string // key path -> flag that set it
}

// locate places a problem with key at the flag that set it or the line
// of the file that did.
func (o *origin) locate(key, msg string) *Error {
	e := &Error{Key: key, Msg: msg}
	if o == nil {
		return e
	}
	for p := key; p != ""; p = parentKey(p) {
		if f, ok := o.flags[p]; ok {
			e.Flag = f
			return e
		}
	}
	e.File = o.file
	e.Line = o.lines.line(key)
	return e
}

// setByFlag records that flag set key (and everything under it).
func (o *origin) setByFlag(key, flag string) {
	if o.flags == nil {
		o.flags = map[string]string{}
	}
	o.flags[key] = flag
}

// parentKey drops the last element of a key path: "mount[1].root" ->
// "mount[1]" -> "mount" -> "".
func parentKey(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// joinErrors turns located problems into one error whose message has one
// problem per line.
func joinErrors(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}
