package sdk

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// startedByHost reports whether the host launched this process: go-plugin's client sets
// the handshake cookie in the child's environment, and nobody else does.
func startedByHost() bool {
	return os.Getenv(MagicCookieKey) == MagicCookieValue
}

// explainByHand writes what a plugin run by hand is and how to run it. go-plugin's own
// message ("This binary is a plugin. These are not meant to be executed directly.")
// names neither poolhost nor the commands that do run it, so Serve prints this instead
// and exits before go-plugin would. Describe is asked (briefly, and a panic in it only
// shortens the message) so the text names the provider.
func explainByHand(w io.Writer, a Adapter) {
	name := filepath.Base(os.Args[0])
	what := "a poolhost provider plugin"
	if d, ok := describeQuietly(a); ok {
		what = fmt.Sprintf("the poolhost provider plugin %q (version %s, protocol %d)", d.ID, dashIfEmpty(d.Version), d.ProtocolVersion)
	}
	fmt.Fprintf(w, `%s is %s.
It is not run by hand: the poolhost host starts it itself, over go-plugin gRPC.
  - test it:    poolhost plugins test %s [--fixtures DIR] [--settings FILE]
  - run it:     name it in a provider block of the host's config (binary = "…"),
                then: poolhost plugins check --config FILE
PLUGINS.md (github.com/poolhost/poolhost) says more.
`, name, what, name)
}

func describeQuietly(a Adapter) (Description, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	type result struct {
		d   Description
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() { _ = recover() }() // a panicking Describe leaves ch empty: ctx ends the wait
		d, err := a.Describe(ctx)
		ch <- result{d, err}
	}()
	select {
	case r := <-ch:
		return r.d, r.err == nil && r.d.ID != ""
	case <-ctx.Done():
		return Description{}, false
	}
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
