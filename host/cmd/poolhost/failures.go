package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/store"
)

// The failures commands are the dead-letter operations of the admin API, for operators
// with shell access. Changes are audited as system:cli. They never migrate first:
// looking at dead letters must not change the schema on the side.
func init() {
	registerGroup("failures", "inspect, requeue and discard ingestion dead letters",
		`A delivery the host accepted but could not store is kept as a failure and retried by
the retry worker; after its last attempt it is dead until requeued or discarded.`,
		`  poolhost failures list --status dead
  poolhost failures show 12
  poolhost failures requeue --provider ttn --from 2026-01-01T00:00:00Z`)

	register("failures", func() *cobra.Command {
		c := &cobra.Command{
			Use:     "list [flags]",
			Short:   "list failures, newest first",
			Example: "  poolhost failures list --status dead --provider generic --format json\n  poolhost failures list --status dead --before 1200",
		}
		db := storeFlags(c)
		status := c.Flags().String("status", "", "only this `status`: pending, processing, resolved or dead")
		provider := c.Flags().String("provider", "", "only this `provider`")
		limit := &limitValue{n: 50, max: 500}
		c.Flags().Var(limit, "limit", "at most this `many`, from 1 to 500")
		before := c.Flags().Int64("before", 0, "only failures older than this `ID`: the next page")
		f := formatFlag(c)
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			return withFailures(ctx, db, "list", stderr, func(svc *failures.Service) error {
				fl, next, err := svc.List(ctx, auth.System("cli"), failures.Filter{Status: *status, Provider: *provider, Limit: limit.n, BeforeID: *before})
				if err != nil {
					return err
				}
				if next != 0 {
					// On stderr, so --format json stays one document: a page that
					// looks like the whole list hides the older failures.
					defer fmt.Fprintf(stderr, "stopped at --limit %d; older ones: the same command with --before %d\n", limit.n, next)
				}
				views := make([]httpapi.FailureView, 0, len(fl))
				for _, x := range fl {
					views = append(views, httpapi.NewFailureView(x, false))
				}
				return f.write(stdout, views, func(w io.Writer) {
					fmt.Fprintln(w, "ID\tPROVIDER\tACCOUNT\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tRECEIVED\tLAST ERROR")
					for _, v := range views {
						fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%d/%d\t%s\t%s\t%s\n", v.ID, v.Provider, v.AccountID, v.Status,
							v.Attempts, v.MaxAttempts, nextAttempt(v), v.ReceivedAt.Format(time.RFC3339), termSafe(clip(v.LastError, 80)))
					}
				})
			})
		})
		return c
	})

	register("failures", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "show [flags] ID",
			Short: "show one failure: its state, error history, headers and payload (credentials redacted)",
			Example: `  poolhost failures show 12
  poolhost failures show 12 --format json | jq .payload`,
			Args: exactArgs(1, "one failure ID"),
		}
		db := storeFlags(c)
		f := formatFlag(c)
		c.RunE = run(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
			id, err := failureID(args[0])
			if err != nil {
				return usage(stderr, c, err)
			}
			return withFailures(ctx, db, "show", stderr, func(svc *failures.Service) error {
				x, err := svc.Get(ctx, auth.System("cli"), id)
				if err != nil {
					return err
				}
				in := failures.InspectAll(x)
				type header struct {
					Name     string   `json:"name"`
					Values   []string `json:"values"`
					Redacted bool     `json:"redacted,omitempty"`
				}
				out := struct {
					httpapi.FailureView
					Headers []header `json:"headers"`
					Payload string   `json:"payload"`
					Binary  bool     `json:"binary,omitempty"`
				}{FailureView: httpapi.NewFailureView(x, false), Headers: []header{}, Payload: in.Payload, Binary: in.Binary}
				for _, h := range in.Headers {
					out.Headers = append(out.Headers, header{h.Name, h.Values, h.Redacted})
				}
				return f.write(stdout, out, func(w io.Writer) {
					v := out.FailureView
					fmt.Fprintf(w, "ID\t%d\nPROVIDER\t%s\nACCOUNT\t%d\nSTATUS\t%s\nATTEMPTS\t%d/%d\nNEXT ATTEMPT\t%s\nRECEIVED\t%s\nDELIVERY ID\t%s\nLAST ERROR\t%s\n",
						v.ID, v.Provider, v.AccountID, v.Status, v.Attempts, v.MaxAttempts, nextAttempt(v),
						v.ReceivedAt.Format(time.RFC3339), termField(dash(v.DeliveryID)), oneLine(v.LastError))
					for _, e := range v.ErrorHistory {
						fmt.Fprintf(w, "ATTEMPT %d\t%s %s\n", e.Attempt, e.At, oneLine(e.Error))
					}
					for _, h := range out.Headers {
						fmt.Fprintf(w, "HEADER %s\t%s\n", termField(h.Name), termField(strings.Join(h.Values, ", ")))
					}
					switch {
					case out.Binary:
						fmt.Fprintf(w, "PAYLOAD\t(binary, not shown)\n")
					default:
						fmt.Fprintf(w, "PAYLOAD\n%s\n", termSafe(out.Payload))
					}
				})
			})
		})
		return c
	})

	register("failures", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "requeue [flags] (ID | --provider P [--from T] [--to T])",
			Short: "requeue one dead failure, or every dead failure of a provider",
			Long: `requeue turns a dead failure back to pending, due now, with a fresh attempt budget;
with --provider, every dead failure of that provider (created in [--from, --to)).
A failure pending or processing already is left as it is and said so (exit 0): the
retry worker has it. A resolved one (its delivery stored) is refused (exit 1).`,
			Example: `  poolhost failures requeue 12
  poolhost failures requeue --provider ttn --from 2026-01-01T00:00:00Z --to 2026-01-02T00:00:00Z`,
			Args: cobra.MaximumNArgs(1),
		}
		db := storeFlags(c)
		provider := c.Flags().String("provider", "", "bulk: every dead failure of this `provider`")
		from := c.Flags().String("from", "", "bulk: created at or after this `time` (RFC 3339)")
		to := c.Flags().String("to", "", "bulk: created before this `time` (RFC 3339)")
		c.RunE = run(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
			if len(args) == 1 {
				if *provider != "" || *from != "" || *to != "" {
					return usage(stderr, c, fmt.Errorf("give an ID or --provider, not both"))
				}
				id, err := failureID(args[0])
				if err != nil {
					return usage(stderr, c, err)
				}
				return withFailures(ctx, db, "requeue", stderr, func(svc *failures.Service) error {
					x, err := svc.Requeue(ctx, auth.System("cli"), id)
					if err == nil {
						fmt.Fprintf(stdout, "requeued failure %d (%s)\n", x.ID, x.Provider)
					} else if host.ErrorCode(err) == host.ECONFLICT && failures.AlreadyQueued(x) {
						// What the operator asked for holds already: a script that requeues
						// a list of ids must not stop at one the worker has in hand.
						fmt.Fprintf(stdout, "failure %d (%s) is %s already: nothing to requeue\n", x.ID, x.Provider, x.Status)
						return nil
					}
					return err
				})
			}
			if *provider == "" {
				return usage(stderr, c, fmt.Errorf("give a failure ID, or --provider for a bulk requeue"))
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
					return usage(stderr, c, fmt.Errorf("%q is not an RFC 3339 time", b.s))
				}
				*b.dst = t
			}
			return withFailures(ctx, db, "requeue", stderr, func(svc *failures.Service) error {
				ids, err := svc.RequeueBulk(ctx, auth.System("cli"), bf)
				if err == nil {
					fmt.Fprintf(stdout, "requeued %d failures of %s\n", len(ids), *provider)
				}
				return err
			})
		})
		return c
	})

	register("failures", func() *cobra.Command {
		c := &cobra.Command{
			Use:     "discard [flags] ID",
			Short:   "discard one pending or dead failure: its row and payload are deleted, never retried (the audit row keeps its status and error)",
			Example: "  poolhost failures discard 12",
			Args:    exactArgs(1, "one failure ID"),
		}
		db := storeFlags(c)
		c.RunE = run(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
			id, err := failureID(args[0])
			if err != nil {
				return usage(stderr, c, err)
			}
			return withFailures(ctx, db, "discard", stderr, func(svc *failures.Service) error {
				x, err := svc.Discard(ctx, auth.System("cli"), id)
				if err == nil {
					fmt.Fprintf(stdout, "discarded failure %d (%s, %s)\n", x.ID, x.Provider, x.Status)
				}
				return err
			})
		})
		return c
	})
}

// usage reports a mistake in how c was called, with its usage line, and returns 2.
func usage(stderr io.Writer, c *cobra.Command, err error) int {
	fmt.Fprintf(stderr, "%s: %v\nusage: %s\n", c.CommandPath(), err, c.UseLine())
	return 2
}

func failureID(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a failure ID", s)
	}
	return n, nil
}

// withFailures opens the store and runs fn over the failures service; fn's error is
// printed and mapped to the exit status.
func withFailures(ctx context.Context, db *dbFlags, sub string, stderr io.Writer, fn func(*failures.Service) error) int {
	st, err := db.open(ctx, false)
	if err != nil {
		fmt.Fprintf(stderr, "poolhost failures %s: %v\n", sub, err)
		return 1
	}
	defer st.Close()
	if err := fn(failures.New(st)); err != nil {
		fmt.Fprintf(stderr, "poolhost failures %s: %s\n", sub, cliMessage(err))
		return failuresExitCode(err)
	}
	return 0
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

// nextAttempt is the NEXT ATTEMPT column: a time only for a pending row, as the console
// shows it (store.FailureStatus.Due).
func nextAttempt(v httpapi.FailureView) string {
	if !store.FailureStatus(v.Status).Due() {
		return "—"
	}
	return v.NextAttemptAt.Format(time.RFC3339)
}
