package config

// Resolve builds a configuration: Default, then the TOML file at path
// (none if path is ""), then the flags given in ov (nil: none), then
// validation. It returns every problem found, one per line, each as
// "file:line: key: reason" or "flag -name: reason" (see Error).
//
// A running daemon calls Resolve again on SIGHUP with the same ov and
// keeps its old Config if Resolve fails.
func Resolve(path string, ov *Overrides) (*Config, error) {
	c := Default()
	o := &origin{}
	if path != "" {
		data, dir, err := readFile(path)
		if err != nil {
			return nil, err
		}
		if o, err = parseFile(c, path, data, dir); err != nil {
			return nil, err
		}
	}
	ov.apply(c, o)
	errs := c.check()
	if len(errs) == 0 {
		return c, nil
	}
	located := make([]*Error, len(errs))
	for i, e := range errs {
		located[i] = o.locate(e.key, e.msg)
	}
	return nil, joinErrors(located)
}

// Load reads and validates the TOML file at path, over the defaults.
func Load(path string) (*Config, error) { return Resolve(path, nil) }
