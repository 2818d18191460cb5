// Command poolhost is the pool-sensor plugin host: it serves the HTTP API, supervises the
// provider plugins and owns all storage. main only dispatches (cli.go) to the
// command files beside it, each of which registers its own commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/poolhost/poolhost/host"
)

func main() {
	// serve runs with the host's runtime settings, which the runtime reads only at
	// start: TuneSysmon re-executes it with them (same process) unless the operator set
	// GODEBUG. Here, not in runServe, so tests that run serve in their own process are
	// not re-executed; and only for serve, so a short CLI command prints nothing of it.
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := host.TuneSysmon(); err != nil {
			fmt.Fprintf(os.Stderr, "poolhost serve: %v\n", err)
		}
	}
	// SIGINT/SIGTERM cancel the context; serve turns that into a graceful shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
