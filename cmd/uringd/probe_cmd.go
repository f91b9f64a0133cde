package main

import (
	"fmt"
	"io"

	"github.com/uringd/uringd/cmd/uringd/internal/probe"
)

// probeCommand prints the probe report; the exit status says whether
// uringd can run.
func probeCommand(asJSON bool, stdout io.Writer) int {
	r := probe.Run()
	var err error
	if asJSON {
		err = r.WriteJSON(stdout)
	} else {
		err = r.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stdout, "uringd probe: %v\n", err)
		return exitFail
	}
	if !r.CanRun {
		return exitFail
	}
	return exitOK
}
