package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/store"
)

// failuresWorld is a temp SQLite database, migrated, and a config file pointing at it.
type failuresWorld struct {
	config string
	url    string
	st     *store.Store
	clock  time.Time // the seeding store's clock
}

func newFailuresWorld(t *testing.T, migrate bool) *failuresWorld {
	t.Helper()
	dir := t.TempDir()
	w := &failuresWorld{url: "sqlite:" + filepath.Join(dir, "poolhost.db"), config: filepath.Join(dir, "poolhost.hcl"), clock: time.Now()}
	writeTestFile(t, filepath.Join(dir, "key"), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	writeTestFile(t, w.config, fmt.Sprintf(`
database_url    = %q
plugin_dir      = %q
credentials_key = file("key")
`, w.url, dir))
	st, err := store.Open(context.Background(), w.url, store.WithClock(func() time.Time { return w.clock }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if migrate {
		if _, err := st.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	w.st = st
	return w
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (w *failuresWorld) enqueue(t *testing.T, provider string, dead bool, at time.Time) store.Failure {
	t.Helper()
	w.clock = at
	f, err := w.st.EnqueueFailure(context.Background(), store.NewFailure{
		Provider: provider, Payload: []byte(`{}`), MaxAttempts: 8, Dead: dead,
		Error: "line one\nline two of a parse error",
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// failuresCLI runs `poolhost failures ...` through main's dispatcher.
func (w *failuresWorld) cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"failures"}, args...)
	// --config goes right after the subcommand: flags stop at the first argument.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		full = append([]string{"failures", args[0], "--config", w.config}, args[1:]...)
	}
	code := dispatch(context.Background(), full, &out, &errb)
	return code, out.String(), errb.String()
}

// listIDs picks the ID column of `failures list` output.
func listIDs(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "LAST ERROR") {
		t.Fatalf("list output without its header:\n%s", out)
	}
	var ids []string
	for _, l := range lines[1:] {
		ids = append(ids, strings.Fields(l)[0])
	}
	return ids
}

func TestFailuresCLI(t *testing.T) {
	w := newFailuresWorld(t, true)
	now := time.Now().UTC().Truncate(time.Second)
	old := w.enqueue(t, "generic", true, now.Add(-48*time.Hour))
	recent := w.enqueue(t, "generic", true, now.Add(-time.Hour))
	pending := w.enqueue(t, "ttn", false, now.Add(-time.Hour))
	other := w.enqueue(t, "ttn", true, now.Add(-time.Hour))
	id := func(f store.Failure) string { return fmt.Sprint(f.ID) }

	t.Run("list", func(t *testing.T) {
		tests := []struct {
			args   []string
			want   []string
			stderr string
		}{
			{nil, []string{id(other), id(pending), id(recent), id(old)}, ""},
			{[]string{"--status", "dead"}, []string{id(other), id(recent), id(old)}, ""},
			{[]string{"--provider", "ttn"}, []string{id(other), id(pending)}, ""},
			{[]string{"--status", "pending", "--provider", "ttn"}, []string{id(pending)}, ""},
			{[]string{"--status", "resolved"}, nil, ""},
			// A page that stops at the limit says how to see the rest.
			{[]string{"--limit", "2"}, []string{id(other), id(pending)}, "stopped at --limit 2; older ones: the same command with --before " + id(pending) + "\n"},
			// The last page, full: no older failure, so no pointer to an empty page
			// (it said "... --before <old>", which listed nothing).
			{[]string{"--limit", "2", "--before", id(pending)}, []string{id(recent), id(old)}, ""},
			{[]string{"--provider", "ttn", "--limit", "2"}, []string{id(other), id(pending)}, ""},
			{[]string{"--limit", "3"}, []string{id(other), id(pending), id(recent)}, "stopped at --limit 3; older ones: the same command with --before " + id(recent) + "\n"},
			{[]string{"--before", id(pending)}, []string{id(recent), id(old)}, ""},
		}
		for _, tt := range tests {
			code, out, stderr := w.cli(t, append([]string{"list"}, tt.args...)...)
			if code != 0 || stderr != tt.stderr {
				t.Fatalf("list %v = %d %q", tt.args, code, stderr)
			}
			if got := listIDs(t, out); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("list %v ids = %v, want %v", tt.args, got, tt.want)
			}
		}
		_, out, _ := w.cli(t, "list", "--provider", "generic")
		row := regexp.MustCompile(`(?m)^` + id(recent) + `\s+generic\s+0\s+dead\s+0/8\s+\S+\s+\S+\s+line one line two of a parse error$`)
		if !row.MatchString(out) {
			t.Errorf("list row of %d not as expected (one line, error flattened):\n%s", recent.ID, out)
		}
	})

	t.Run("requeue one", func(t *testing.T) {
		code, out, stderr := w.cli(t, "requeue", id(old))
		if code != 0 || out != fmt.Sprintf("requeued failure %d (generic)\n", old.ID) || stderr != "" {
			t.Fatalf("requeue = %d %q %q", code, out, stderr)
		}
		f, err := w.st.GetFailure(context.Background(), old.ID)
		if err != nil || f.Status != store.FailurePending || f.Attempts != 0 {
			t.Fatalf("after requeue: %+v %v", f, err)
		}
		evs, err := w.st.ListAudit(context.Background(), store.AuditFilter{Action: failures.ActionRequeued})
		if err != nil || len(evs) != 1 || evs[0].Actor != "system:cli" || evs[0].TargetID != id(old) || evs[0].Provider != "generic" {
			t.Fatalf("requeue audit: %+v %v", evs, err)
		}
	})

	t.Run("bulk requeue", func(t *testing.T) {
		from := now.Add(-2 * time.Hour).Format(time.RFC3339)
		code, out, stderr := w.cli(t, "requeue", "--provider", "ttn", "--from", from, "--to", now.Format(time.RFC3339))
		if code != 0 || out != "requeued 1 failures of ttn\n" {
			t.Fatalf("bulk requeue = %d %q %q", code, out, stderr)
		}
		if f, _ := w.st.GetFailure(context.Background(), other.ID); f.Status != store.FailurePending {
			t.Fatalf("ttn dead failure after bulk requeue: %s", f.Status)
		}
		// Outside the range: nothing.
		code, out, _ = w.cli(t, "requeue", "--provider", "generic", "--to", now.Add(-3*time.Hour).Format(time.RFC3339))
		if code != 0 || out != "requeued 0 failures of generic\n" {
			t.Fatalf("bulk requeue out of range = %d %q", code, out)
		}
		if f, _ := w.st.GetFailure(context.Background(), recent.ID); f.Status != store.FailureDead {
			t.Fatalf("generic failure outside the range was requeued: %s", f.Status)
		}
	})

	t.Run("discard", func(t *testing.T) {
		code, out, stderr := w.cli(t, "discard", id(pending))
		if code != 0 || out != fmt.Sprintf("discarded failure %d (ttn, pending)\n", pending.ID) {
			t.Fatalf("discard = %d %q %q", code, out, stderr)
		}
		if _, err := w.st.GetFailure(context.Background(), pending.ID); err == nil {
			t.Fatal("discarded failure still stored")
		}
		evs, err := w.st.ListAudit(context.Background(), store.AuditFilter{Action: failures.ActionDiscarded})
		if err != nil || len(evs) != 1 || evs[0].Actor != "system:cli" || evs[0].TargetID != id(pending) {
			t.Fatalf("discard audit: %+v %v", evs, err)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name   string
			args   []string
			code   int
			stderr string
		}{
			{"no subcommand", nil, 2, "usage:"},
			{"unknown subcommand", []string{"sideways"}, 2, "usage:"},
			{"bad status", []string{"list", "--status", "zombie"}, 1, "status must be pending, processing, resolved or dead"},
			{"unknown flag", []string{"list", "--colour"}, 2, "unknown flag: --colour"},
			{"requeue unknown id", []string{"requeue", "999999"}, 1, "no failure 999999"},
			{"requeue without id or provider", []string{"requeue"}, 2, "usage:"},
			{"requeue a non-numeric id", []string{"requeue", "abc"}, 2, "usage:"},
			{"requeue two ids", []string{"requeue", id(old), id(recent)}, 2, "usage:"},
			{"bulk with a bad time", []string{"requeue", "--provider", "generic", "--from", "yesterday"}, 2, "not an RFC 3339 time"},
			{"bulk from after to", []string{"requeue", "--provider", "generic", "--from", now.Format(time.RFC3339), "--to", now.Add(-time.Hour).Format(time.RFC3339)}, 1, "from must be before to"},
			{"discard unknown id", []string{"discard", "999999"}, 1, "no failure 999999"},
			{"discard twice", []string{"discard", id(pending)}, 1, fmt.Sprintf("no failure %d", pending.ID)},
			{"discard without id", []string{"discard"}, 2, "usage:"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, out, stderr := w.cli(t, tt.args...)
				if code != tt.code || !strings.Contains(stderr, tt.stderr) {
					t.Fatalf("exit %d stderr %q, want %d with %q", code, stderr, tt.code, tt.stderr)
				}
				if out != "" {
					t.Fatalf("stdout on a refusal: %q", out)
				}
			})
		}
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), []string{"failures", "list", "--config", filepath.Join(t.TempDir(), "missing.hcl")}, &out, &errb); code != 1 || errb.Len() == 0 {
			t.Fatalf("missing config = %d %q", code, errb.String())
		}
		// The refusals changed nothing and audited nothing.
		if evs, _ := w.st.ListAudit(context.Background(), store.AuditFilter{}); len(evs) != 3 {
			t.Fatalf("%d audit rows, want the 3 of the successful commands: %+v", len(evs), evs)
		}
	})
}

// TestFailuresCLIUnexpectedError: an error the CLI has no words for (here, a database
// never migrated) exits 4 and shows the operator its cause rather than "internal error".
func TestFailuresCLIUnexpectedError(t *testing.T) {
	w := newFailuresWorld(t, false)
	code, out, stderr := w.cli(t, "list")
	if code != 4 || out != "" || !strings.Contains(stderr, "integration_ingestion_failures") {
		t.Fatalf("list on an unmigrated database = %d %q %q", code, out, stderr)
	}
}

// TestFailuresCLIDatabaseURL: --database-url names the database, as for migrate, users
// and tokens; the config file is then not read at all, so a missing one is no error.
func TestFailuresCLIDatabaseURL(t *testing.T) {
	w := newFailuresWorld(t, true)
	dead := w.enqueue(t, "generic", true, time.Now().Add(-time.Hour))
	missing := filepath.Join(t.TempDir(), "missing.hcl")
	run := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), append([]string{"failures"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}

	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"list without a config file", []string{"list", "--database-url", w.url}, 0, fmt.Sprint(dead.ID)},
		{"a missing config is not read", []string{"list", "--config", missing, "--database-url", w.url}, 0, fmt.Sprint(dead.ID)},
		{"requeue", []string{"requeue", "--database-url", w.url, fmt.Sprint(dead.ID)}, 0, fmt.Sprintf("requeued failure %d (generic)\n", dead.ID)},
		{"discard", []string{"discard", "--database-url", w.url, fmt.Sprint(dead.ID)}, 0, fmt.Sprintf("discarded failure %d (generic, pending)\n", dead.ID)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := run(tt.args...)
			if code != tt.code || stderr != "" || !strings.Contains(out, tt.out) {
				t.Fatalf("exit %d stdout %q stderr %q, want %d with %q", code, out, stderr, tt.code, tt.out)
			}
		})
	}
	// What the URL named was changed, audited as the CLI.
	if _, err := w.st.GetFailure(context.Background(), dead.ID); err == nil {
		t.Fatal("discarded failure still stored")
	}
	evs, err := w.st.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil || len(evs) != 2 || evs[0].Actor != "system:cli" || evs[1].Actor != "system:cli" {
		t.Fatalf("audit after requeue and discard: %+v %v", evs, err)
	}

	// Without it, the config file still decides: a missing one is an error.
	if code, _, stderr := run("list", "--config", missing); code != 1 || !strings.Contains(stderr, "load config") {
		t.Fatalf("missing config without --database-url = %d %q", code, stderr)
	}
	// A URL naming no database this binary knows is refused, not silently replaced by
	// the config's.
	if code, _, stderr := run("list", "--config", w.config, "--database-url", "mysql://nowhere/db"); code != 1 || stderr == "" {
		t.Fatalf("unknown database URL = %d %q", code, stderr)
	}
}

// TestFailuresCLINextAttempt: a dead letter has no next attempt — `failures show` and
// `failures list` print "—" for it, as the console does — and a pending row its time.
func TestFailuresCLINextAttempt(t *testing.T) {
	w := newFailuresWorld(t, true)
	now := time.Now().UTC().Truncate(time.Second)
	dead := w.enqueue(t, "generic", true, now.Add(-time.Hour))
	pending := w.enqueue(t, "generic", false, now.Add(-time.Minute))
	_, out, _ := w.cli(t, "show", strconv.FormatInt(dead.ID, 10))
	if !regexp.MustCompile(`(?m)^NEXT ATTEMPT\s+—$`).MatchString(out) {
		t.Errorf("failures show of a dead letter:\n%s\nwant NEXT ATTEMPT —", out)
	}
	_, out, _ = w.cli(t, "show", strconv.FormatInt(pending.ID, 10))
	if !regexp.MustCompile(`(?m)^NEXT ATTEMPT\s+\d{4}-`).MatchString(out) {
		t.Errorf("failures show of a pending failure:\n%s\nwant its next attempt's time", out)
	}
	_, out, _ = w.cli(t, "list", "--provider", "generic", "--status", "dead")
	if !strings.Contains(out, "\t—\t") && !regexp.MustCompile(`dead\s+\d+/\d+\s+—\s`).MatchString(out) {
		t.Errorf("failures list of a dead letter:\n%s\nwant — under NEXT ATTEMPT", out)
	}
}

// TestFailuresCLIShowsNoTerminalEscapes: a dead letter's payload is whatever a sender
// with an account URL signed, and `failures show` prints it to an operator's terminal.
// Its control characters (an ESC sequence that clears the screen, retitles the window or
// writes the clipboard), bidirectional overrides and bytes that are not UTF-8 are shown
// as escapes, never written; so are those of a delivery id, a header and an error. The
// text around them, newlines and tabs included, is kept.
func TestFailuresCLIShowsNoTerminalEscapes(t *testing.T) {
	w := newFailuresWorld(t, true)
	f, err := w.st.EnqueueFailure(context.Background(), store.NewFailure{
		Provider: "generic", MaxAttempts: 8, Dead: true, DeliveryID: "msg\x1b[8m",
		Payload: []byte("not json\n\tclear:\x1b[2J title:\x1b]0;pwned\x07 clip:\x1b]52;c;cm0gLXJmIH4K\x07 csi:\xc2\x9b31m rtl:\u202eevil"),
		Headers: map[string][]string{"X-Note": {"a\x1b[31mb"}},
		Error:   "permanent: malformed \x1b[2J payload",
	})
	if err != nil {
		t.Fatal(err)
	}
	_, out, errOut := w.cli(t, "show", strconv.FormatInt(f.ID, 10))
	if strings.ContainsAny(out, "\x1b\x07\u009b\u202e") {
		t.Errorf("failures show wrote control characters to the terminal:\n%q", out)
	}
	for _, want := range []string{"not json\n", "clear:\\x1b[2J title:\\x1b]0;pwned\\x07", "csi:\\u009b31m", "rtl:\\u202eevil",
		"msg\\x1b[8m", "a\\x1b[31mb", "malformed \\x1b[2J payload"} {
		if !strings.Contains(out, want) {
			t.Errorf("failures show: want %q in\n%s%s", want, out, errOut)
		}
	}
	_, out, _ = w.cli(t, "list", "--provider", "generic")
	if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, "malformed \\x1b[2J payload") {
		t.Errorf("failures list:\n%q", out)
	}
	// A delivery id is one field: its newline cannot start a line that reads as another.
	g, err := w.st.EnqueueFailure(context.Background(), store.NewFailure{
		Provider: "generic", MaxAttempts: 8, Dead: true, DeliveryID: "m1\nSTATUS\tresolved\tok", Payload: []byte("x"), Error: "bad",
	})
	if err != nil {
		t.Fatal(err)
	}
	_, out, _ = w.cli(t, "show", strconv.FormatInt(g.ID, 10))
	if strings.Count("\n"+out, "\nSTATUS") != 1 || !strings.Contains(out, `m1\x0aSTATUS\x09resolved\x09ok`) {
		t.Errorf("failures show of a delivery id with a newline:\n%s", out)
	}
	if got := termSafe("caf\u00e9 ok\n\tend"); got != "caf\u00e9 ok\n\tend" {
		t.Errorf("termSafe changed plain text: %q", got)
	}
	if got := termSafe("a\xffb"); got != `a\xffb` {
		t.Errorf("termSafe of a byte that is not UTF-8: %q", got)
	}
}

// TestFailuresCLIRequeueNotDead: requeueing a failure the retry worker will work anyway
// (pending, or processing now) is what the operator asked for already: exit 0, saying
// so, nothing changed or audited. It exited 1 "is not dead", which stopped a script
// requeueing a list of ids at the first one a requeue earlier had already put back. A
// resolved one (its delivery stored) is still refused, saying why.
func TestFailuresCLIRequeueNotDead(t *testing.T) {
	w := newFailuresWorld(t, true)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	pending := w.enqueue(t, "generic", false, now.Add(-time.Hour))
	processing := w.enqueue(t, "ttn", false, now.Add(-time.Hour))
	resolved := w.enqueue(t, "generic", false, now.Add(-time.Hour))
	w.clock = now
	claimed, err := w.st.ClaimFailures(ctx, "test", 10, time.Hour)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claim: %d %v", len(claimed), err)
	}
	for _, f := range claimed {
		switch f.ID {
		case pending.ID:
			if err := w.st.ReleaseFailure(ctx, f.ID, f.Lease()); err != nil {
				t.Fatal(err)
			}
		case resolved.ID:
			if err := w.st.CompleteFailure(ctx, f.ID, f.Lease()); err != nil {
				t.Fatal(err)
			}
		}
	}

	tests := []struct {
		f              store.Failure
		code           int
		stdout, stderr string
	}{
		{pending, 0, fmt.Sprintf("failure %d (generic) is pending already: nothing to requeue\n", pending.ID), ""},
		{processing, 0, fmt.Sprintf("failure %d (ttn) is processing already: nothing to requeue\n", processing.ID), ""},
		{resolved, 1, "", fmt.Sprintf("poolhost failures requeue: failure %d is resolved, not dead: its delivery was stored; there is nothing to retry\n", resolved.ID)},
	}
	for _, tt := range tests {
		code, out, errs := w.cli(t, "requeue", fmt.Sprint(tt.f.ID))
		if code != tt.code || out != tt.stdout || errs != tt.stderr {
			t.Errorf("requeue %d = %d %q %q, want %d %q %q", tt.f.ID, code, out, errs, tt.code, tt.stdout, tt.stderr)
		}
	}
	for _, f := range []store.Failure{pending, processing, resolved} {
		got, err := w.st.GetFailure(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[int64]store.FailureStatus{pending.ID: store.FailurePending, processing.ID: store.FailureProcessing,
			resolved.ID: store.FailureResolved}[f.ID]; got.Status != want || got.Attempts != map[bool]int{true: 1, false: 0}[f.ID == processing.ID || f.ID == resolved.ID] {
			t.Errorf("failure %d after requeue: %s, %d attempts", f.ID, got.Status, got.Attempts)
		}
	}
	if evs, _ := w.st.ListAudit(ctx, store.AuditFilter{Action: failures.ActionRequeued}); len(evs) != 0 {
		t.Errorf("a requeue that changed nothing was audited: %+v", evs)
	}
}
