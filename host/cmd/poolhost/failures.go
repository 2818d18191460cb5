package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/failures"
)

const failuresUsage = `usage:
  poolhost failures list    [--config FILE | --database-url URL] [--status pending|processing|resolved|dead] [--provider P] [--limit N]
  poolhost failures requeue [--config FILE | --database-url URL] ID
  poolhost failures requeue [--config FILE | --database-url URL] --provider P [--from RFC3339] [--to RFC3339]
  poolhost failures discard [--config FILE | --database-url URL] ID
`

// runFailures is `poolhost failures list|requeue|discard`: the dead-letter operations of
// the admin API, for operators with shell access. Changes are audited as system:cli.
func runFailures(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, failuresUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs, db := storeFlags("failures "+sub, stderr)
	status := fs.String("status", "", "list: only this status")
	provider := fs.String("provider", "", "list: only this provider; requeue: bulk by provider")
	limit := fs.Int("limit", 50, "list: at most this many, newest first")
	from := fs.String("from", "", "bulk requeue: created at or after (RFC 3339)")
	to := fs.String("to", "", "bulk requeue: created before (RFC 3339)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		// The operator's own shell is no client to hide causes from, and a CLI run has no
		// log to find them in: an unexpected error is printed whole.
		msg := host.ErrorMessage(err)
		if host.ErrorCode(err) == host.EINTERNAL {
			msg = err.Error()
		}
		fmt.Fprintf(stderr, "poolhost failures %s: %s\n", sub, msg)
		return failuresExitCode(err)
	}

	// Never migrate first: looking at dead letters must not change the schema on the side.
	st, err := db.open(ctx, false)
	if err != nil {
		fmt.Fprintf(stderr, "poolhost failures: %v\n", err)
		return 1
	}
	defer st.Close()
	svc := failures.New(st)
	actor := auth.System("cli")

	id := func() (int64, bool) {
		if fs.NArg() != 1 {
			return 0, false
		}
		n, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		return n, err == nil && n > 0
	}

	switch sub {
	case "list":
		fl, _, err := svc.List(ctx, failures.Filter{Status: *status, Provider: *provider, Limit: *limit})
		if err != nil {
			return fail(err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPROVIDER\tACCOUNT\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tRECEIVED\tLAST ERROR")
		for _, f := range fl {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d/%d\t%s\t%s\t%s\n", f.ID, f.Provider, f.AccountID, f.Status,
				f.Attempts, f.MaxAttempts, f.NextAttemptAt.Format(time.RFC3339), f.ReceivedAt.Format(time.RFC3339), clip(f.LastError, 80))
		}
		tw.Flush()
		return 0
	case "requeue":
		if n, ok := id(); ok {
			f, err := svc.Requeue(ctx, actor, n)
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(stdout, "requeued failure %d (%s)\n", f.ID, f.Provider)
			return 0
		}
		if fs.NArg() != 0 || *provider == "" {
			fmt.Fprint(stderr, failuresUsage)
			return 2
		}
		bf := failures.BulkFilter{Provider: *provider}
		for _, b := range []struct {
			s   string
			dst *time.Time
		}{{*from, &bf.From}, {*to, &bf.To}} {
			if b.s == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339, b.s)
			if err != nil {
				fmt.Fprintf(stderr, "poolhost failures requeue: %q is not an RFC 3339 time\n", b.s)
				return 2
			}
			*b.dst = t
		}
		ids, err := svc.RequeueBulk(ctx, actor, bf)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "requeued %d failures of %s\n", len(ids), *provider)
		return 0
	case "discard":
		n, ok := id()
		if !ok {
			fmt.Fprint(stderr, failuresUsage)
			return 2
		}
		f, err := svc.Discard(ctx, actor, n)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "discarded failure %d (%s, %s)\n", f.ID, f.Provider, f.Status)
		return 0
	}
	fmt.Fprint(stderr, failuresUsage)
	return 2
}

// failuresExitCode maps an error code to the CLI's exit status: 1 for operator mistakes the
// message explains (not found, conflict, invalid), 3 for an unavailable dependency, 4
// for anything else.
func failuresExitCode(err error) int {
	switch host.ErrorCode(err) {
	case host.ENOTFOUND, host.ECONFLICT, host.EINVALID:
		return 1
	case host.EUNAVAILABLE:
		return 3
	}
	return 4
}

// clip keeps an error on one table row.
func clip(s string, n int) string {
	out := make([]rune, 0, n)
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' {
			r = ' '
		}
		if len(out) == n {
			return string(out) + "…"
		}
		out = append(out, r)
	}
	return string(out)
}
