package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTemplateCopiedOut runs PLUGINS.md's recipe for an OAuth2 provider that polls as
// written: examples/provider-template copied out of the repository as its own module,
// renamed to "acme", whose go test then passes there — the host-in-the-loop test
// included, against a real poolhost. A template test that names the provider "template"
// instead of template.ID fails here (its webhook URL answers 404 once the ID changed).
func TestTemplateCopiedOut(t *testing.T) {
	if testing.Short() {
		t.Skip("copies the template out, builds poolhost, runs the copy's go test")
	}
	for _, tool := range []string{"bash", "grep", "xargs", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the recipe needs %s", tool)
		}
	}
	raw, err := os.ReadFile(pluginsMD)
	if err != nil {
		t.Fatal(err)
	}
	recipe := docBetween(t, string(raw), "**An OAuth2 provider that polls.**", "```sh\n", "```")
	checkout, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "poolhost")
	goBuild(t, "-o", bin, "./host/cmd/poolhost")
	recipe = strings.NewReplacer("~/src/poolhost/bin/poolhost", bin, "~/src/poolhost", checkout, "$HOME/src/poolhost", checkout).Replace(recipe)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", recipe)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "CI=true") // the host-in-the-loop test must run, not skip
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("PLUGINS.md's recipe for copying the template out: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ok  \texample.com/poolhost-provider-acme\t") {
		t.Errorf("the copy's go test did not pass:\n%s", out)
	}
}
