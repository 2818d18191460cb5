package main

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk/sdktest"
)

// Sample outputs in PLUGINS.md are produced by tests, so they cannot go stale: a test
// runs the command the sample shows and compares. `go test -run TestPLUGINSmd
// -update-docs` rewrites the samples from what the commands print now.
var updateDocs = flag.Bool("update-docs", false, "rewrite PLUGINS.md's sample outputs from the commands' output")

const pluginsMD = repoRoot + "/PLUGINS.md"

// docSample returns the lines of the PLUGINS.md code block that follow the line
// command (a "$ …" line), up to the block's end, and where they are in the file.
func docSample(t *testing.T, doc, command string) (lines []string, start, end int) {
	t.Helper()
	i := strings.Index(doc, command+"\n")
	if i < 0 {
		t.Fatalf("PLUGINS.md has no sample %q", command)
	}
	start = i + len(command) + 1
	end = start + strings.Index(doc[start:], "```")
	return strings.Split(strings.TrimSuffix(doc[start:end], "\n"), "\n"), start, end
}

// seedRE matches the randomized pass's seed, different on every run.
var seedRE = regexp.MustCompile(`seed \d+`)

// TestPLUGINSmdPluginsTest: the `plugins test` sample in Testing is exactly what the
// command prints for the template and its fixtures (the seed aside).
func TestPLUGINSmdPluginsTest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the template plugin")
	}
	const command = "$ bin/poolhost plugins test bin/plugins/poolhost-provider-template --fixtures examples/provider-template/testdata/conformance"
	bin := sdktest.BuildBinary(t, repoRoot+"/examples/provider-template/cmd/poolhost-provider-template")
	var out, errOut bytes.Buffer
	if code := runPluginsTest(t.Context(), bin, repoRoot+"/examples/provider-template/testdata/conformance", "", &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	b, err := os.ReadFile(pluginsMD)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	want, start, end := docSample(t, doc, command)
	seed := "seed 1705296978971271420"
	for _, l := range want {
		if m := seedRE.FindString(l); m != "" {
			seed = m
		}
	}
	got := strings.ReplaceAll(out.String(), bin, "bin/plugins/poolhost-provider-template")
	got = seedRE.ReplaceAllString(got, seed)
	if *updateDocs {
		if err := os.WriteFile(pluginsMD, []byte(doc[:start]+got+doc[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if strings.Join(want, "\n")+"\n" != got {
		t.Errorf("PLUGINS.md's plugins test sample is stale (go test -run TestPLUGINSmd -update-docs):\n--- PLUGINS.md\n%s\n--- plugins test prints\n%s", strings.Join(want, "\n"), got)
	}
}

// checkQuickStartSample: the quick start's sample output lines of `plugins new` and
// `make conformance` (all but the elided and go test timing lines) are among what the
// commands print for a webhook_secret module (TestPluginsNewOutOfTree runs them).
func checkQuickStartSample(t *testing.T, printed string) {
	t.Helper()
	b, err := os.ReadFile(pluginsMD)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := docSample(t, string(b), "$ ~/src/poolhost/bin/poolhost plugins new acme --connect webhook_secret --sdk ~/src/poolhost/sdk")
	for _, l := range want {
		if l == "…" || strings.HasPrefix(l, "$ ") || strings.HasPrefix(l, "go test") || strings.HasPrefix(l, "ok  \t") {
			continue
		}
		if !strings.Contains(printed, l+"\n") {
			t.Errorf("PLUGINS.md's quick start shows %q, which plugins new / make conformance no longer print:\n%s", l, printed)
		}
	}
}
