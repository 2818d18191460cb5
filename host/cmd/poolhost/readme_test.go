package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host/internal/pgtest"
)

// readmeSection returns README.md from the heading from to the heading to.
func readmeSection(t *testing.T, from, to string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i := strings.Index(doc, "\n"+from+"\n")
	if i < 0 {
		t.Fatalf("README.md has no heading %q", from)
	}
	j := strings.Index(doc[i:], "\n"+to+"\n")
	if j < 0 {
		t.Fatalf("README.md has no heading %q after %q", to, from)
	}
	return doc[i : i+j]
}

// shBlocks returns the ```sh blocks of a piece of markdown, in order.
func shBlocks(md string) []string {
	var blocks []string
	for rest := md; ; {
		i := strings.Index(rest, "```sh\n")
		if i < 0 {
			return blocks
		}
		rest = rest[i+len("```sh\n"):]
		j := strings.Index(rest, "```")
		if j < 0 {
			return blocks
		}
		blocks = append(blocks, rest[:j])
		rest = rest[j+3:]
	}
}

// shownAnswers returns the answers a shell script's comments show: a comment, at the end
// of a command or on a line of its own, that starts with "{" (what the command prints),
// up to two spaces (a remark follows them). Comments on lines of their own one after the
// other are one answer of as many lines, printed one after the other.
func shownAnswers(script string) []string {
	var shown []string
	ownLine := false
	for _, l := range strings.Split(script, "\n") {
		var comment string
		c, own := strings.CutPrefix(l, "# ")
		if own {
			comment = c
		} else if _, c, ok := strings.Cut(l, "  # "); ok {
			comment = strings.TrimLeft(c, " ")
		}
		if !strings.HasPrefix(comment, "{") {
			ownLine = false
			continue
		}
		answer, _, _ := strings.Cut(comment, "  ")
		if own && ownLine {
			shown[len(shown)-1] += "\n" + answer
		} else {
			shown = append(shown, answer)
		}
		ownLine = own
	}
	return shown
}

// answerRE turns a shown answer into a pattern for the printed lines: "…" stands for
// whatever changes within a line, " … " between two answers for the lines between them;
// the lines of an answer of several are printed one after the other.
func answerRE(shown string) *regexp.Regexp {
	parts := strings.Split(shown, " … ")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(regexp.QuoteMeta(p), "…", `[^\n]*?`)
	}
	return regexp.MustCompile(`(?m)^` + strings.Join(parts, `[\s\S]*?`) + `$`)
}

// TestREADMEFirstRun runs the README's "First run" as written: its shell blocks, in
// order, by bash with curl, jq and openssl, against the built poolhost serving a copy of
// examples/dev.hcl (the port aside) with every plugin. Every answer its comments show
// must be what the host printed, in order, and the script must run to its end.
func TestREADMEFirstRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every plugin and serves")
	}
	for _, tool := range []string{"bash", "curl", "jq", "openssl", "od", "base64", "tr"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README's first run needs %s", tool)
		}
	}
	script := strings.Join(shBlocks(readmeSection(t, "## First run: a webhook from connect to reading", "## Operator guide")), "")
	shown := shownAnswers(script)
	if len(shown) < 8 {
		t.Fatalf("the README's first run shows %d answers; the test reads them wrong:\n%v", len(shown), shown)
	}

	b := buildE2E(t)
	c := writeE2EConfig(t, b, nil)
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	run := strings.NewReplacer("bin/poolhost", b.poolhost, "examples/dev.hcl", c.path, "http://127.0.0.1:8080", c.baseURL).Replace(script)
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", run)
	var sout, serr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &sout, &serr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README's first run stopped: %v\nstdout:\n%s\nstderr:\n%s\nserve:\n%s", err, sout.String(), serr.String(), srv.out.String())
	}
	printed := sout.String()
	for _, want := range shown {
		loc := answerRE(want).FindStringIndex(printed)
		if loc == nil {
			t.Errorf("the README's first run shows\n\t%s\nwhich the host did not print (after the answers before it); it printed:\n%s", want, printed)
			continue
		}
		printed = printed[loc[1]:]
	}
}

// serviceStubs stands in, for TestREADMERunningAsAService, for what the test cannot or
// must not do as the README's root does: make (bin/ is built), useradd, chgrp and runuser
// (no poolhost user: the group is left out of install too, and runuser runs its command
// as the test's user), and systemctl, which runs the installed unit's ExecStart in the
// background from its WorkingDirectory, as systemd would, and turns reload into the
// unit's SIGHUP. (The unit has no ExecStartPre: TestSystemdUnit.)
const serviceStubs = `
make() { :; }
useradd() { :; }
chgrp() { :; }
runuser() { while [ "$1" != -- ]; do shift; done; shift; "$@"; }
install() {
  local a=()
  while [ $# -gt 0 ]; do
    if [ "$1" = -g ]; then shift 2; continue; fi
    a+=("$1"); shift
  done
  command install "${a[@]}"
}
unit_line() { sed -n "s/^$1=//p" "$ROOT/etc/systemd/system/poolhost.service" | sed "s|/usr/local/|$ROOT/usr/local/|g; s|/etc/poolhost|$ROOT/etc/poolhost|g; s|/var/lib/|$ROOT/var/lib/|g"; }
systemctl() {
  case "$*" in
  daemon-reload) ;;
  "enable --now poolhost")
    mkdir -p "$(unit_line WorkingDirectory)"
    (cd "$(unit_line WorkingDirectory)" && exec $(unit_line ExecStart)) >"$ROOT/serve.log" 2>&1 &
    echo $! > "$ROOT/serve.pid"
    for i in $(seq 600); do curl -fs -o /dev/null "$API/healthz" && return 0; sleep 0.2; done
    echo "serve never answered /healthz" >&2; return 1 ;;
  "reload poolhost") kill -HUP "$(cat "$ROOT/serve.pid")" ;;
  *) echo "systemctl $*: not stubbed" >&2; return 1 ;;
  esac
}
`

// editorStub does what the README's $EDITOR line asks of the operator: each provider's
// sha256 is its installed binary's pin, and trusted_keys holds the key keygen made, if
// the steps made one.
const editorStub = `#!/bin/bash
set -euo pipefail
for id in generic ttn ondilo iopool; do
  pin=$(poolhost plugins pin "$ROOT/usr/local/lib/poolhost/plugins/poolhost-provider-$id")
  sed -i "/^provider \"$id\"/,/^}/ s/\"0\{64\}\"/\"$pin\"/" "$1"
done
if [ -f "$REPO/release.pub" ]; then
  sed -i "s|^\( *trusted_keys *=\).*|\1 [file(\"$REPO/release.pub\")]|" "$1"
fi
`

// TestREADMERunningAsAService follows the README's "Running as a service" steps as
// written, with examples/production.hcl, under a temporary root instead of / (its
// /usr/local, /etc and /var/lib paths moved there, the config's plugin_dir and addresses
// with them), against a throwaway PostgreSQL cluster in which the steps create the role
// and its database: `plugins check` must pass and the service start as that role, no
// superuser, and its /readyz answer ready.
func TestREADMERunningAsAService(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every plugin and serves")
	}
	for _, tool := range []string{"bash", "curl", "sed", "install", "base64", "head"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README's service steps need %s", tool)
		}
	}
	blocks := shBlocks(readmeSection(t, "### Running as a service", "### Reloading the configuration"))
	if len(blocks) != 1 {
		t.Fatalf("README's Running as a service has %d shell blocks, want 1", len(blocks))
	}
	// A cluster of its own: the steps create the role and the database themselves.
	admin, err := url.Parse(pgtest.NewCluster(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	b := buildE2E(t)

	// The repository as `make build` leaves it, beside the root the steps install into.
	tmp := t.TempDir()
	repo, root := filepath.Join(tmp, "repo"), filepath.Join(tmp, "root")
	api, metrics := "http://"+freeAddr(t), freeAddr(t)
	for _, d := range []string{filepath.Join(repo, "bin"), filepath.Join(repo, "examples"), filepath.Join(repo, "deploy", "systemd"), filepath.Join(root, "etc", "systemd", "system"), filepath.Join(root, "usr", "local", "bin")} { // as on any system
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile := func(from, to string, mode os.FileMode, edit func(string) string) {
		t.Helper()
		src, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		text := string(src)
		if edit != nil {
			text = edit(text)
		}
		if err := os.WriteFile(to, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(filepath.Join(repo, "bin", "plugins"), os.DirFS(b.pluginDir)); err != nil {
		t.Fatal(err)
	}
	copyFile(b.poolhost, filepath.Join(repo, "bin", "poolhost"), 0o755, nil)
	copyFile(filepath.Join(repoRoot, "README.md"), filepath.Join(repo, "README.md"), 0o644, nil)
	copyFile(filepath.Join(repoRoot, "deploy", "systemd", "poolhost.service"), filepath.Join(repo, "deploy", "systemd", "poolhost.service"), 0o644, nil)
	copyFile(filepath.Join(repoRoot, "examples", "production.hcl"), filepath.Join(repo, "examples", "production.hcl"), 0o644, func(s string) string {
		for old, new := range map[string]string{
			`"/usr/local/lib/poolhost/plugins"`: `"` + root + `/usr/local/lib/poolhost/plugins"`,
			`"127.0.0.1:8080"`:                  `"` + strings.TrimPrefix(api, "http://") + `"`,
			`"127.0.0.1:9477"`:                  `"` + metrics + `"`,
		} {
			if !strings.Contains(s, old) {
				t.Fatalf("examples/production.hcl has no %s", old)
			}
			s = strings.ReplaceAll(s, old, new)
		}
		return s
	})
	editor := filepath.Join(tmp, "editor")
	if err := os.WriteFile(editor, []byte(editorStub), 0o755); err != nil {
		t.Fatal(err)
	}

	// The operator's own values: the database server, the role's password, the TTN secret.
	script := blocks[0]
	for old, new := range map[string]string{
		"psql -h db.internal -U postgres ": `psql "` + admin.String() + `" `,
		"PASSWORD '…'":                     "PASSWORD 'password-of-the-test'",
		"postgres://poolhost:…@db.internal:5432/poolhost?sslmode=verify-full": "postgres://poolhost:password-of-the-test@" + admin.Host + "/poolhost?sslmode=disable",
		"POOLHOST_TTN_WEBHOOK_SECRET=…":                                       "POOLHOST_TTN_WEBHOOK_SECRET=ttn-secret-of-the-test",
	} {
		if !strings.Contains(script, old) {
			t.Fatalf("README's Running as a service no longer has %q", old)
		}
		script = strings.ReplaceAll(script, old, new)
	}
	script = strings.NewReplacer(
		"/usr/local/", root+"/usr/local/",
		"/etc/poolhost", root+"/etc/poolhost",
		"/etc/systemd/", root+"/etc/systemd/",
		"/var/lib/poolhost", root+"/var/lib/poolhost",
		"http://127.0.0.1:8080", api,
	).Replace(script)
	t.Cleanup(func() {
		if pid, err := os.ReadFile(filepath.Join(root, "serve.pid")); err == nil {
			_ = exec.Command("kill", strings.TrimSpace(string(pid))).Run()
			for i := 0; i < 100 && exec.Command("kill", "-0", strings.TrimSpace(string(pid))).Run() == nil; i++ {
				time.Sleep(100 * time.Millisecond)
			}
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", serviceStubs+script)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "ROOT="+root, "REPO="+repo, "API="+api, "EDITOR="+editor,
		"PATH="+filepath.Join(root, "usr", "local", "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	var sout, serr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &sout, &serr
	err = cmd.Run()
	serveLog, _ := os.ReadFile(filepath.Join(root, "serve.log"))
	if err != nil {
		t.Fatalf("the README's service steps stopped: %v\nstdout:\n%s\nstderr:\n%s\nserve:\n%s", err, sout.String(), serr.String(), serveLog)
	}
	if !strings.Contains(sout.String(), `"status":"ready"`) {
		t.Fatalf("the service's /readyz is not ready:\n%s\nserve:\n%s", sout.String(), serveLog)
	}
}

// TestREADMEReloadSample: `poolhost reload` prints, line by line, what the README's
// sample shows for the change it describes (log_level and rate_limit.per_token edited,
// listen too, which needs a restart). Runs of spaces stand for any (the table's columns
// are as wide as their values), "…" for the rest of a line.
func TestREADMEReloadSample(t *testing.T) {
	md := readmeSection(t, "### Reloading the configuration", "### Behind a proxy: client addresses, metrics port, rate limits")
	const prompt = "```sh\n$ poolhost reload\n"
	i := strings.Index(md, prompt)
	if i < 0 {
		t.Fatalf("README's Reloading the configuration has no %q", prompt)
	}
	block, _, _ := strings.Cut(md[i+len(prompt):], "```")
	sample := strings.Split(strings.TrimSuffix(block, "\n"), "\n")

	plugins := t.TempDir()
	goBuild(t, "-o", plugins+string(filepath.Separator), "./plugins/generic/cmd/poolhost-provider-generic")
	w := newReloadWorldIn(t, plugins, `
public_url = "https://poolhost.example.com"
log_level  = "info"
`)
	w.write(t, "127.0.0.1:1", `
public_url = "https://poolhost.example.com"
log_level  = "debug"
http {
  rate_limit {
    per_token = 30
  }
}
`)
	code, out, stderr := cli(t, "reload", "--addr", w.url, "--token", w.token)
	if code != 0 {
		t.Fatalf("poolhost reload: exit %d %s", code, stderr)
	}
	printed := strings.Split(out, "\n")
	if len(printed) < len(sample) {
		t.Fatalf("poolhost reload printed %d lines, the README shows %d:\n%s", len(printed), len(sample), out)
	}
	spaces := regexp.MustCompile(`  +`)
	for n, l := range sample {
		re := regexp.QuoteMeta(l)
		re = spaces.ReplaceAllString(re, "  +")
		re = strings.ReplaceAll(re, "…", ".*")
		if !regexp.MustCompile("^" + re + "$").MatchString(printed[n]) {
			t.Errorf("line %d: the README shows\n\t%s\npoolhost reload printed\n\t%s", n+1, l, printed[n])
		}
	}
}

// TestDocsNameEveryCommand: every command of the CLI is named in README.md or
// PLUGINS.md ("poolhost users disable"), so an operator reading them learns of each.
func TestDocsNameEveryCommand(t *testing.T) {
	var docs string
	for _, name := range []string{"README.md", "PLUGINS.md"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, name))
		if err != nil {
			t.Fatal(err)
		}
		docs += string(b)
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if !c.HasSubCommands() {
			if !strings.Contains(docs, c.CommandPath()) {
				t.Errorf("neither README.md nor PLUGINS.md names %q", c.CommandPath())
			}
			return
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	var out, errb bytes.Buffer
	walk(newRoot(&out, &errb))
}

// TestREADMEPostgresBackupRestore runs the README's PostgreSQL backup and restore as
// written (pg_dump while the host takes webhooks, createdb, pg_restore, migrate verify)
// on a cluster of its own: the restored database passes migrate verify, and holds every
// reading acknowledged before the dump began.
func TestREADMEPostgresBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every plugin and serves")
	}
	for _, tool := range []string{"bash", "pg_dump", "pg_restore", "createdb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README's PostgreSQL backup needs %s", tool)
		}
	}
	md := readmeSection(t, "### Backing up and restoring", "### Rotating the credentials key")
	blocks := shBlocks(md)
	if len(blocks) == 0 || !strings.Contains(blocks[0], "pg_dump") {
		t.Fatalf("README's Backing up and restoring has no pg_dump block first:\n%v", blocks)
	}
	cluster := pgtest.NewCluster(t)
	dbURL := cluster.NewDatabase(t)
	admin, err := url.Parse(cluster.URL())
	if err != nil {
		t.Fatal(err)
	}
	b := buildE2E(t)
	c := writeE2EConfig(t, b, func(s string) string {
		return regexp.MustCompile(`(?m)^database_url = ".*"$`).ReplaceAllLiteralString(s, fmt.Sprintf("database_url = %q", dbURL))
	})
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	snd, _ := newSender(t, b, c, c.baseURL)
	var before []float64
	for range 20 {
		v, status, err := snd.post(t, c.baseURL)
		if err != nil || status != http.StatusOK {
			t.Fatalf("post: %d %v", status, err)
		}
		before = append(before, v)
	}
	// Deliveries go on while the dump runs.
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, err := snd.post(t, c.baseURL); err != nil {
				return
			}
		}
	}()

	// The role the hosts connect with, as Running as a service creates it: the restore
	// is made as it, into a database it owns, so the hosts can write to what it restores.
	// (The steps made the database as postgres and restored as a superuser: every table
	// was postgres's, which the role could not write to, and a restore as the role failed
	// on PostgreSQL 15's closed public schema.)
	adminDB, err := sql.Open("postgres", cluster.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer adminDB.Close()
	if _, err := adminDB.Exec(`CREATE ROLE poolhost LOGIN PASSWORD 'password-of-the-test'`); err != nil {
		t.Fatal(err)
	}
	restored := "postgres://poolhost:password-of-the-test@" + admin.Host + "/poolhost_restored?sslmode=disable"
	script := strings.NewReplacer(
		"-h db.internal -U postgres ", "",
		"postgres://poolhost:…@db.internal:5432/poolhost_restored", restored,
		"poolhost-….dump", "poolhost-*.dump",
		"poolhost migrate", b.poolhost+" migrate",
	).Replace(blocks[0])
	for _, step := range []string{"--owner=poolhost", "--dbname=" + restored, "--database-url " + restored} {
		if !strings.Contains(script, step) {
			t.Fatalf("README's PostgreSQL restore no longer has %q:\n%s", step, script)
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "POOLHOST_DATABASE_URL="+dbURL, "PGHOST="+admin.Hostname(), "PGPORT="+admin.Port(), "PGUSER=postgres")
	out, err := cmd.CombinedOutput()
	close(stop)
	<-done
	if err != nil {
		t.Fatalf("the README's PostgreSQL backup and restore: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "schema ok") {
		t.Fatalf("migrate verify of the restored database did not say schema ok:\n%s", out)
	}
	db, err := sql.Open("postgres", restored)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, v := range before {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sensor_readings WHERE metric = 'tds' AND value = $1`, v).Scan(&n); err != nil || n != 1 {
			t.Fatalf("reading %g, acknowledged before the dump: %d in the restored database (%v)", v, n, err)
		}
	}
	// A host pointed at it, as the role, writes there.
	if _, err := db.Exec(`UPDATE replicas SET problem = problem`); err != nil {
		t.Fatalf("the role cannot write to the restored database: %v", err)
	}
	if _, err := db.Exec(`DELETE FROM sensor_readings WHERE metric = 'tds' AND value = $1`, before[0]); err != nil {
		t.Fatalf("the role cannot write to the restored readings: %v", err)
	}
}

// TestREADMERejectionLogLine: the log line the README shows for a rejected delivery (to
// debug a sender that keeps getting 401) is the one the host writes, for a delivery
// signed with a timestamp an hour old; the README's client address is the test's.
func TestREADMERejectionLogLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every plugin and serves")
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("`(webhook rejected: [^`]*)`").FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatal("README.md shows no `webhook rejected: …` log line")
	}
	shown := strings.Join(strings.Fields(m[1]), " ")
	b := buildE2E(t)
	c := writeE2EConfig(t, b, nil)
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	secret, err := os.ReadFile(filepath.Join(filepath.Dir(c.path), "data", "dev-webhook.secret"))
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"device_id":"pool-probe-1","readings":[]}`)
	id, ts := "msg_stale", fmt.Sprint(time.Now().Add(-time.Hour).Unix())
	rq, _ := http.NewRequest(http.MethodPost, c.baseURL+"/v1/webhooks/generic", bytes.NewReader(body))
	rq.Header.Set("Content-Type", "application/json")
	rq.Header.Set("webhook-id", id)
	rq.Header.Set("webhook-timestamp", ts)
	rq.Header.Set("webhook-signature", signStandard(t, strings.TrimSpace(string(secret)), id, ts, body))
	resp, err := http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	var problem struct {
		Detail    string `json:"detail"`
		RequestID string `json:"request_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&problem)
	resp.Body.Close()
	// The 401 says where the reason is: the log line carries its request_id.
	if resp.StatusCode != http.StatusUnauthorized || err != nil || problem.RequestID == "" ||
		!strings.Contains(problem.Detail, "the host's log gives the reason under this request_id") {
		t.Fatalf("stale delivery: %d %+v %v, want 401 pointing at the log", resp.StatusCode, problem, err)
	}
	shown = strings.Replace(shown, "request_id=…", "request_id="+problem.RequestID, 1)
	re := regexp.MustCompile(strings.ReplaceAll(regexp.QuoteMeta(strings.Replace(shown, "client=203.0.113.7", "client=127.0.0.1", 1)), "…", `[^"\n]*?`))
	deadline := time.Now().Add(10 * time.Second)
	for !re.MatchString(srv.out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("the README shows\n\t%s\nbut the host logged:\n%s", shown, srv.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
