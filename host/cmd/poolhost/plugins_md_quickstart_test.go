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

// docBetween returns the text of doc between the first from after the first occurrence
// of after, and the next to.
func docBetween(t *testing.T, doc, after, from, to string) string {
	t.Helper()
	i := strings.Index(doc, after)
	if i < 0 {
		t.Fatalf("PLUGINS.md has no %q", after)
	}
	j := strings.Index(doc[i:], from)
	if j < 0 {
		t.Fatalf("PLUGINS.md has no %q after %q", from, after)
	}
	start := i + j + len(from)
	k := strings.Index(doc[start:], to)
	if k < 0 {
		t.Fatalf("PLUGINS.md: %q is not closed by %q", from, to)
	}
	return doc[start : start+k]
}

// docPinRE is the quick start's pin, as PLUGINS.md shows it: the real one differs with
// every toolchain, so the test puts the shown one in its place.
var docPinRE = regexp.MustCompile(`sha256\s+=\s+"([0-9a-f]{64})"`)

// lineNumberRE matches a config error's line number.
var lineNumberRE = regexp.MustCompile(`^(examples/dev-acme\.hcl:)\d+,`)

// TestPLUGINSmdQuickStart runs the quick start's steps 2 to 4 as written, against the
// built poolhost and the plugins of examples/dev.hcl: `make install` and `make -s pin`
// in a `plugins new` module, the doc's provider block appended to a copy of dev.hcl,
// `plugins check` (its table must be the one shown, the pin aside; and the two mistakes
// shown must read as shown), then serve and the doc's shell block itself, run by bash
// with curl, jq and openssl: each answer it shows (`# {…}`, "…" standing for what
// changes every run) must be what the host answers, in order.
func TestPLUGINSmdQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every plugin and serves")
	}
	for _, tool := range []string{"make", "bash", "curl", "jq", "openssl", "od", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the quick start needs %s", tool)
		}
	}
	raw, err := os.ReadFile(pluginsMD)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	b := buildE2E(t)

	// 1–2: the module, installed by its Makefile into plugin_dir, and its pin.
	sdkDir, err := filepath.Abs(repoRoot + "/sdk")
	if err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(t.TempDir(), "poolhost-provider-acme")
	var out, errOut bytes.Buffer
	if code := runPluginsNew(t.Context(), "acme", mod, "webhook_secret", sdkDir, nil, false, &out, &errOut); code != 0 {
		t.Fatalf("plugins new: exit %d %s %s", code, out.String(), errOut.String())
	}
	makeIn := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("make", args...)
		cmd.Dir = mod
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("make %v: %v\n%s\n%s", args, err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	makeIn("install", "PLUGIN_DIR="+b.pluginDir)
	pin := strings.TrimSpace(makeIn("-s", "pin", "POOLHOST="+b.poolhost))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(pin) {
		t.Fatalf("make -s pin printed %q, want the pin alone", pin)
	}

	// 3: the block as PLUGINS.md writes it, its pin the real one.
	block := docBetween(t, doc, "**3. Configure it.**", "<<'HCL'\n", "HCL\n")
	m := docPinRE.FindStringSubmatch(block)
	if m == nil {
		t.Fatalf("the quick start's block has no sha256:\n%s", block)
	}
	docPin := m[1]
	block = strings.ReplaceAll(block, docPin, pin)
	block = strings.ReplaceAll(block, `file("../data/`, `file("data/`) // as writeE2EConfig moves the secrets
	config := func(edit func(string) string) e2eConfig {
		return writeE2EConfig(t, b, func(s string) string { return s + edit(block) })
	}
	asShown := func(s string, c e2eConfig) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, pin, docPin), c.path, "examples/dev-acme.hcl")
	}
	c := config(func(s string) string { return s })
	code, stdout, stderr := runCLI(t, b, "plugins", "check", "--config", c.path)
	if code != 0 {
		t.Fatalf("plugins check: exit %d\n%s\n%s", code, stdout, stderr)
	}
	lines := strings.Split(asShown(stdout, c), "\n")
	shown, start, end := docSample(t, doc, "$ bin/poolhost plugins check --config examples/dev-acme.hcl")
	// Exactly as printed (trailing blanks aside): the columns are as wide as the other
	// providers' rows make them.
	got := []string{strings.TrimRight(lines[0], " "), strings.TrimRight(tableRow(strings.Join(lines, "\n"), "acme"), " "), "…"}
	if *updateDocs {
		doc = doc[:start] + strings.Join(got, "\n") + "\n" + doc[end:]
		if err := os.WriteFile(pluginsMD, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if strings.Join(shown, "\n") != strings.Join(got, "\n") {
		t.Errorf("PLUGINS.md's plugins check sample is stale (go test -run TestPLUGINSmdQuickStart -update-docs):\n--- PLUGINS.md\n%s\n--- plugins check prints (other providers elided)\n%s", strings.Join(shown, "\n"), strings.Join(got, "\n"))
	}

	// The two mistakes shown: a misspelled secret, and an inline one.
	mistakes := strings.Split(strings.TrimSuffix(docBetween(t, doc, "Mistakes show up here", "```text\n", "```"), "\n"), "\n")
	typo := config(func(s string) string { return strings.Replace(s, "webhook_secret =", "webhook_secert =", 1) })
	_, stdout, _ = runCLI(t, b, "plugins", "check", "--config", typo.path)
	inline := config(func(s string) string {
		return regexp.MustCompile(`file\("data/dev-webhook.secret"\)`).ReplaceAllLiteralString(s, `"secret"`)
	})
	_, _, stderr = runCLI(t, b, "plugins", "check", "--config", inline.path)
	got = []string{
		asShown(tableRow(stdout, "acme"), typo),
		strings.TrimPrefix(strings.TrimSpace(asShown(stderr, inline)), "poolhost plugins check: "),
	}
	// The row is shown with its columns closed up, and the line number of the block
	// moves with examples/dev.hcl's length: both are compared without.
	same := func(doc, printed string) bool {
		norm := func(s string) string {
			return lineNumberRE.ReplaceAllString(strings.Join(strings.Fields(s), " "), "${1}N,")
		}
		return norm(doc) == norm(printed)
	}
	if len(mistakes) != 2 || !same(mistakes[0], got[0]) || !same(mistakes[1], got[1]) {
		t.Errorf("PLUGINS.md's mistakes sample is stale:\n--- PLUGINS.md\n%s\n--- plugins check prints\n%s", strings.Join(mistakes, "\n"), strings.Join(got, "\n"))
	}

	// 4: serve, and the doc's shell block, run as written.
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	script := docBetween(t, doc, "**4. Receive a webhook.**", "```sh\n", "```")
	run := strings.NewReplacer("bin/poolhost", b.poolhost, "examples/dev-acme.hcl", c.path, "http://127.0.0.1:8080", c.baseURL).Replace(script)
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", run)
	var sout, serr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &sout, &serr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the quick start's shell block: %v\n%s\n%s\nserve:\n%s", err, sout.String(), serr.String(), srv.out.String())
	}
	printed := strings.Split(sout.String(), "\n")
	for _, l := range strings.Split(script, "\n") {
		want, ok := strings.CutPrefix(l, "# ")
		if !ok || !strings.HasPrefix(want, "{") {
			continue
		}
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(want), "…", ".*") + "$")
		found := false
		for len(printed) > 0 && !found {
			found = re.MatchString(printed[0])
			printed = printed[1:]
		}
		if !found {
			t.Errorf("PLUGINS.md's quick start shows the answer %s, which the host did not give:\n%s", want, sout.String())
		}
	}
}
