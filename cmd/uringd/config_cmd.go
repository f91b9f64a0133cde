package main

import (
	"fmt"
	"io"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
)

// configCheckCommand loads a file as serve -config would and reports every
// problem.
func configCheckCommand(file string, stdout, stderr io.Writer) int {
	if _, err := config.Load(file); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s: ok\n", file)
	return exitOK
}
