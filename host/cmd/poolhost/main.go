// Command poolhost is the pool-sensor plugin host: it serves the HTTP API, supervises the
// provider plugins and owns all storage. main only dispatches to the command files
// beside it; each command builds its components from the config file and runs them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = []command{
	{"serve", "run the host: HTTP API, plugin supervisor and workers", runServe},
	{"plugins", "plugins check: launch every enabled plugin and report", runPlugins},
	{"migrate", "migrate up|status|verify: manage the database schema", runMigrate},
	{"users", "users create --email E [--admin]", runUsers},
	{"tokens", "tokens create|revoke: API tokens", runTokens},
	{"failures", "failures list|requeue|discard: ingestion dead letters", runFailures},
	{"credentials", "credentials rewrap: re-seal stored credentials under the current key", runCredentials},
	{"version", "print the host version, commit, Go version and plugin protocols", runVersion},
}

func main() {
	// SIGINT/SIGTERM cancel the context; serve turns that into a graceful shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		return runVersion(ctx, args[1:], stdout, stderr)
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "poolhost: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: poolhost <command> [--config FILE] [args]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
}
