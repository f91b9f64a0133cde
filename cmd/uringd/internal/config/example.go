package config

import _ "embed"

// Example is a configuration file that documents every key with its
// default; `uringd config example` prints it.
//
//go:embed uringd.example.toml
var Example string
