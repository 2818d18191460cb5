// Command poolhost is the pool-sensor plugin host: it serves the HTTP API, supervises the
// provider plugins and owns all storage. main only dispatches (cli.go) to the
// command files beside it, each of which registers its own commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGINT/SIGTERM cancel the context; serve turns that into a graceful shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
