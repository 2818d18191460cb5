package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
// up to two spaces (a remark follows them).
func shownAnswers(script string) []string {
	var shown []string
	for _, l := range strings.Split(script, "\n") {
		var comment string
		if c, ok := strings.CutPrefix(l, "# "); ok {
			comment = c
		} else if _, c, ok := strings.Cut(l, "  # "); ok {
			comment = strings.TrimLeft(c, " ")
		}
		if !strings.HasPrefix(comment, "{") {
			continue
		}
		answer, _, _ := strings.Cut(comment, "  ")
		shown = append(shown, answer)
	}
	return shown
}

// answerRE turns a shown answer into a pattern for the printed lines: "…" stands for
// whatever changes within a line, " … " between two answers for the lines between them.
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
