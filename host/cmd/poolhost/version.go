package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host/buildinfo"
)

func init() {
	register("", func() *cobra.Command {
		return &cobra.Command{
			Use:   "version",
			Short: "print the host version, commit, Go version and plugin protocols",
			RunE:  run(runVersion),
		}
	})
}

// runVersion is `poolhost version` (and `poolhost --version`): what an operator pastes
// into a ticket — host version, commit and dirty flag, Go version, plugin protocols.
func runVersion(_ context.Context, _ []string, stdout, stderr io.Writer) int {
	if err := buildinfo.Read().Write(stdout); err != nil {
		return 1
	}
	return 0
}
