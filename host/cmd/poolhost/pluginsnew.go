package main

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	gofmt "go/format"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
)

// newplugin holds the files `poolhost plugins new` writes: an out-of-tree Go module
// that requires only the SDK module and passes `go test ./...` as written.
//
//go:embed newplugin/*.tmpl
var newplugin embed.FS

var pluginID = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

func init() {
	register("plugins", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "new [flags] ID",
			Short: "write a new provider plugin as its own Go module",
			Long: `new writes a provider plugin module for provider ID into --dir (default
./poolhost-provider-ID): go.mod requiring only github.com/poolhost/poolhost/sdk, the
adapter (Describe, Configure, Connect of the --connect kind, Standard Webhooks
verification and a JSON webhook parser), cmd/poolhost-provider-ID/main.go, and tests
that run the SDK's conformance suite and launch the built binary. It then runs
"go mod tidy" when go is on PATH. --sdk points the module at a local SDK checkout
(a replace directive) until it requires a tagged SDK release.`,
			Example: `  poolhost plugins new acme --connect api_key --sdk ~/src/poolhost/sdk
  cd poolhost-provider-acme && go test ./...`,
			Args: cobra.ExactArgs(1),
		}
		dir := c.Flags().String("dir", "", "where to write the module (default ./poolhost-provider-ID); must not exist or be empty")
		connect := c.Flags().String("connect", "api_key", "how users link an account: api_key, oauth2, webhook_secret or none")
		sdkPath := c.Flags().String("sdk", "", "a local checkout of the SDK module (the sdk/ directory of poolhost), used through a replace directive")
		c.RunE = run(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
			return runPluginsNew(ctx, args[0], *dir, *connect, *sdkPath, stdout, stderr)
		})
		return c
	})
}

func runPluginsNew(ctx context.Context, id, dir, connect, sdkPath string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "poolhost plugins new: %v\n", err)
		return 1
	}
	if !pluginID.MatchString(id) {
		return fail(fmt.Errorf("id %q must match %s", id, pluginID))
	}
	switch connect {
	case "api_key", "oauth2", "webhook_secret", "none":
	default:
		return fail(fmt.Errorf("--connect %q: want api_key, oauth2, webhook_secret or none", connect))
	}
	if dir == "" {
		dir = "poolhost-provider-" + id
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fail(fmt.Errorf("%s exists and is not empty", dir))
	}
	if sdkPath != "" {
		abs, err := filepath.Abs(sdkPath)
		if err != nil {
			return fail(err)
		}
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
			return fail(fmt.Errorf("--sdk %s: no go.mod there (point it at poolhost's sdk/ directory)", sdkPath))
		}
		sdkPath = abs
	}
	data := struct{ ID, Connect, SDK string }{id, connect, sdkPath}
	files := map[string]string{
		"go.mod.tmpl":           "go.mod",
		"provider.go.tmpl":      "provider.go",
		"provider_test.go.tmpl": "provider_test.go",
		"main.go.tmpl":          filepath.Join("cmd", "poolhost-provider-"+id, "main.go"),
	}
	for tmpl, out := range files {
		t, err := template.ParseFS(newplugin, "newplugin/"+tmpl)
		if err != nil {
			return fail(err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return fail(err)
		}
		b := buf.Bytes()
		if strings.HasSuffix(out, ".go") {
			if b, err = gofmt.Source(b); err != nil {
				return fail(fmt.Errorf("%s: %w", out, err))
			}
		}
		path := filepath.Join(dir, out)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fail(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fail(err)
		}
	}
	fmt.Fprintf(stdout, "wrote %s (provider %q, connect %s)\n", dir, id, connect)
	if goTool, err := exec.LookPath("go"); err == nil {
		cmd := exec.CommandContext(ctx, goTool, "mod", "tidy")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(stderr, "poolhost plugins new: go mod tidy in %s: %v\n%s", dir, err, out)
			return 1
		}
	}
	fmt.Fprintf(stdout, "next: cd %s && go test ./... && go build -o poolhost-provider-%s ./cmd/poolhost-provider-%s\n", dir, id, id)
	return 0
}
