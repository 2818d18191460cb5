package main

import (
	"context"
	"io"

	"github.com/poolhost/poolhost/host/buildinfo"
)

// runVersion is `poolhost version` (and `poolhost --version`): what an operator pastes
// into a ticket — host version, commit and dirty flag, Go version, plugin protocols.
func runVersion(_ context.Context, _ []string, stdout, stderr io.Writer) int {
	if err := buildinfo.Read().Write(stdout); err != nil {
		return 1
	}
	return 0
}
