package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	gofmt "go/format"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/sdk/command"
	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/signature"
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
adapter (Describe with its declared settings and inputs, Configure, Connect and device
discovery of the --connect kind, Standard Webhooks verification and a JSON webhook
parser), for api_key and oauth2 an API client and a fake of the provider's API
(upstreamtest, and upstreamtest/cmd/fake serving it on its own to try the plugin in a
host by hand; for oauth2 also its authorize and token endpoints, and oauth.go:
Connect, Callback and the refresh of an expired access token),
cmd/poolhost-provider-ID/main.go, conformance fixtures in testdata/conformance (the
language-neutral layout "poolhost plugins test --fixtures" reads), tests that run the
SDK's conformance suite, connect and discovery and launch the built binary, and a
Makefile (build, test, conformance, pin, install by rename). It then runs
"go mod tidy" when go is on PATH. --commands names sdk/command commands (e.g.
pump.set,light.set): the plugin then implements sdk.Commander, declares them, sends them
through the API client (for oauth2 with the account's access token, refreshed on a 401
and sent once more, the new tokens handed back with the outcome), and its tests check
SendCommand's outcomes against the fake with the conformance suite; it needs --connect
api_key or oauth2 (webhook_secret and none get no API client, and none no accounts). --poll (api_key
or oauth2) writes an sdk.Poller: PollReadings fetches the fake's GET
/v1/readings?since=CURSOR a page at a time (for oauth2 with the account's access token,
refreshed on a 401 and handed back as RefreshedCredentials), and the conformance test
polls an account with readings waiting. For oauth2, --poll or --commands (api_key or
oauth2), make conformance runs the same poll, refresh and command checks on the built
binary while upstreamtest/cmd/withfake serves the fake. --sdk points the
module at a local SDK checkout (a replace directive): no SDK release is tagged yet, so
it is needed, unless this poolhost is a checkout's bin/poolhost (make build), whose
sdk/ is then taken.`,
			Example: `  poolhost plugins new acme --connect api_key --sdk ~/src/poolhost/sdk
  cd poolhost-provider-acme && go test ./...`,
			Args: cobra.ExactArgs(1),
		}
		dir := c.Flags().String("dir", "", "where to write the module (default ./poolhost-provider-ID); must not exist or be empty")
		connect := c.Flags().String("connect", "api_key", "how users link an account: api_key, oauth2, webhook_secret or none")
		sdkPath := c.Flags().String("sdk", "", "a local checkout of the SDK module (the sdk/ directory of poolhost), used through a replace directive")
		commands := c.Flags().StringSlice("commands", nil, "commands of sdk/command the plugin sends (e.g. pump.set,light.set): generates an sdk.Commander")
		poll := c.Flags().Bool("poll", false, "the plugin polls the provider's readings with a cursor: generates an sdk.Poller (needs --connect api_key or oauth2)")
		c.RunE = run(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
			return runPluginsNew(ctx, args[0], *dir, *connect, *sdkPath, *commands, *poll, stdout, stderr)
		})
		return c
	})
}

func runPluginsNew(ctx context.Context, id, dir, connect, sdkPath string, commands []string, poll bool, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "poolhost plugins new: %v\n", err)
		return 1
	}
	// A mistake in the arguments (an id, a flag or a combination of flags) exits 2, as
	// every command's usage mistakes do; nothing is written.
	usage := func(err error) int {
		fmt.Fprintf(stderr, "poolhost plugins new: %v\nRun 'poolhost plugins new --help' for help.\n", err)
		return 2
	}
	if !pluginID.MatchString(id) {
		return usage(fmt.Errorf("id %q must match %s", id, pluginID))
	}
	switch connect {
	case "api_key", "oauth2", "webhook_secret", "none":
	default:
		return usage(fmt.Errorf("--connect %q: want api_key, oauth2, webhook_secret or none", connect))
	}
	if poll && connect != "api_key" && connect != "oauth2" {
		// Polling needs an API client and a fake to poll, which only these two write.
		return usage(fmt.Errorf("--poll needs --connect api_key or oauth2 (for %s, see PLUGINS.md's PollReadings)", connect))
	}
	if err := commandsNeedAnAPI(connect, commands); err != nil {
		return usage(err)
	}
	cmds, err := commandTemplates(commands)
	if err != nil {
		return usage(err)
	}
	if dir == "" {
		dir = "poolhost-provider-" + id
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fail(fmt.Errorf("%s exists and is not empty", dir))
	}
	if sdkPath == "" {
		exe, _ := os.Executable()
		if sdkPath = sdkBeside(exe); sdkPath == "" {
			// The generated go.mod requires v0.0.0, which only a replace makes real.
			return fail(errors.New("--sdk is needed: no SDK release is tagged yet, so the module builds against a poolhost checkout's sdk/ directory through a replace directive (e.g. --sdk ~/src/poolhost/sdk)"))
		}
		fmt.Fprintf(stdout, "using the SDK at %s, in the checkout this poolhost was built in (--sdk names another)\n", sdkPath)
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
	// ConnectConst is the SDK's name for the kind, so the generated code reads as
	// PLUGINS.md's does (sdk.ConnectAPIKey, not a string conversion).
	connectConst := map[string]string{"api_key": "sdk.ConnectAPIKey", "oauth2": "sdk.ConnectOAuth2",
		"webhook_secret": "sdk.ConnectWebhookSecret", "none": "sdk.ConnectNone"}[connect]
	// WithFake: make conformance runs plugins test while upstreamtest/cmd/withfake serves
	// the fake, for the checks that need the provider: polls, a refresh, commands.
	withFake := poll || connect == "oauth2" || (connect == "api_key" && len(cmds) > 0)
	data := struct {
		ID, Connect, ConnectConst, SDK string
		Commands                       []commandTemplate
		Poll, WithFake                 bool
	}{id, connect, connectConst, sdkPath, cmds, poll, withFake}
	files := map[string]string{
		"go.mod.tmpl":           "go.mod",
		"provider.go.tmpl":      "provider.go",
		"provider_test.go.tmpl": "provider_test.go",
		"main.go.tmpl":          filepath.Join("cmd", "poolhost-provider-"+id, "main.go"),
		"Makefile.tmpl":         "Makefile",
	}
	if connect == "api_key" || connect == "oauth2" {
		// The provider's API: a client to replace with the real calls, and a fake of it
		// (for oauth2, with its authorization server).
		files["client.go.tmpl"] = "client.go"
		files["upstreamtest.go.tmpl"] = filepath.Join("upstreamtest", "upstreamtest.go")
		files["client_test.go.tmpl"] = "client_test.go"
		// The fake served on its own, to try the plugin in a host by hand.
		files["fake.go.tmpl"] = filepath.Join("upstreamtest", "cmd", "fake", "main.go")
	}
	if connect == "oauth2" {
		// Connect, Callback, and the refresh of an expired access token.
		files["oauth.go.tmpl"] = "oauth.go"
	}
	if len(cmds) > 0 {
		files["command.go.tmpl"] = "command.go"
		files["command_test.go.tmpl"] = "command_test.go"
	}
	if poll {
		files["poll.go.tmpl"] = "poll.go"
	}
	if withFake {
		// make conformance runs plugins test while this serves the fake.
		files["withfake.go.tmpl"] = filepath.Join("upstreamtest", "cmd", "withfake", "main.go")
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
	if err := writeFixtures(filepath.Join(dir, "testdata", "conformance"), connect); err != nil {
		return fail(err)
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
	exe, _ := os.Executable()
	fmt.Fprintln(stdout, nextSteps(dir, exe))
	return 0
}

// nextSteps is what plugins new says to do next, in dir. The Makefile's test,
// conformance and pin need a poolhost binary (POOLHOST): when this one is a poolhost
// (exe), it is named, so the line runs as printed.
func nextSteps(dir, exe string) string {
	host := "path/to/poolhost"
	if real, err := filepath.EvalSymlinks(exe); err == nil && filepath.Base(real) == "poolhost" {
		host = shellWord(real)
	}
	return fmt.Sprintf("next: cd %s && make test conformance POOLHOST=%s, then see PLUGINS.md's quick start", shellWord(dir), host)
}

// shellWord is s as one word of a POSIX shell's command line.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./+=:@,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// sdkBeside is the SDK module of the checkout whose bin/ holds exe (make build's
// bin/poolhost), or "" when exe is not there.
func sdkBeside(exe string) string {
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	sdk := filepath.Join(filepath.Dir(filepath.Dir(exe)), "sdk")
	mod, err := os.ReadFile(filepath.Join(sdk, "go.mod"))
	if err != nil || !strings.HasPrefix(string(mod), "module github.com/poolhost/poolhost/sdk\n") {
		return ""
	}
	return sdk
}

// commandsNeedAnAPI refuses --commands for the connect kinds the scaffold writes no API
// client for. It wrote a SendCommand that refused every command as "not implemented", and
// tests that wanted exactly that: a plugin that declares Write, passes its conformance
// suite, and fails every command a host sends it.
func commandsNeedAnAPI(connect string, commands []string) error {
	if len(commands) == 0 {
		return nil
	}
	switch connect {
	case "none":
		// The host links no accounts for it (connect.Service.Connect), and a device is
		// an account's: no equipment can be bound to a device of it, so nothing calls
		// SendCommand.
		return errors.New("--commands with --connect none: the host links no accounts for such a provider, so it has no devices equipment can be bound to and would never call SendCommand; " +
			"use --connect api_key or oauth2 (see PLUGINS.md's SendCommand)")
	case "webhook_secret":
		return errors.New("--commands needs --connect api_key or oauth2, whose scaffold has an API client to send commands through and a fake provider to test them against; " +
			"a webhook_secret account is a webhook endpoint only (a plugin that also sends commands, as plugins/ttn does, takes the provider API's key at connect and writes its SendCommand by hand: see PLUGINS.md's SendCommand)")
	}
	return nil
}

// commandTemplate is one command a new plugin sends: its name and parameters that
// validate, as JSON (for the generated tests).
type commandTemplate struct{ Name, Params string }

// commandTemplates checks the --commands names against sdk/command, the one vocabulary
// the host approves commands from.
func commandTemplates(names []string) ([]commandTemplate, error) {
	var out []commandTemplate
	seen := map[string]bool{}
	for _, name := range names {
		name = strings.TrimSpace(name)
		info, ok := command.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("--commands: %q is not a command; the vocabulary (sdk/command) is %s", name, strings.Join(command.Names(), ", "))
		}
		if seen[name] {
			return nil, fmt.Errorf("--commands: %q is listed twice", name)
		}
		seen[name] = true
		params := map[string]any{}
		for _, p := range info.Params {
			if !p.Required {
				continue
			}
			switch p.Type {
			case command.Bool:
				params[p.Name] = true
			case command.Number:
				params[p.Name] = p.Min
			case command.Enum:
				params[p.Name] = p.Values[0]
			}
		}
		b, err := json.Marshal(params)
		if err != nil {
			return nil, err
		}
		out = append(out, commandTemplate{Name: name, Params: string(b)})
	}
	return out, nil
}

// fixtureSecret signs the generated fixtures; configure.json gives it to the plugin as
// its provider-level webhook secret.
const fixtureSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// writeFixtures writes the conformance fixtures of a new plugin in sdktest's
// language-neutral layout: a Standard Webhooks delivery signed with fixtureSecret, and
// the same delivery tampered with, signed with another secret, and received too late.
func writeFixtures(dir, connect string) error {
	settings := map[string]string{}
	if connect == "api_key" || connect == "oauth2" {
		// Nothing here calls the API; make conformance, where it checks calls, puts its
		// fake's URL in a copy (upstreamtest/cmd/withfake).
		settings["base_url"] = "http://127.0.0.1:9"
	}
	if connect == "oauth2" {
		settings["client_id"] = "your-client-id" // required; withfake puts the fake's in its copy
	}
	b, err := json.MarshalIndent(map[string]any{"settings": settings, "secrets": map[string]string{"webhook_secret": fixtureSecret}}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "configure.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"device_id":"pool-1","readings":[{"metric":"ph","value":7.2,"recorded_at":"2026-01-01T11:59:00Z"},{"metric":"temperature","value":78.8,"unit":"F","recorded_at":"2026-01-01T11:59:00Z"}]}`)
	sign := func(secret string) (http.Header, error) {
		v, err := signature.NewStandardWebhooks(secret)
		if err != nil {
			return nil, err
		}
		return v.Headers("msg_fixture_1", at, body), nil
	}
	good, err := sign(fixtureSecret)
	if err != nil {
		return err
	}
	other, err := sign("whsec_c2RrdGVzdC1hY2NvdW50LXNlY3JldC0wMDA=")
	if err != nil {
		return err
	}
	for set, w := range map[string]sdktest.Webhook{
		"valid":        {Headers: good, Body: body, ReceivedAt: at.Add(time.Second)},
		"tampered":     {Headers: good, Body: bytes.Replace(body, []byte("7.2"), []byte("9.9"), 1), ReceivedAt: at.Add(time.Second)},
		"wrong_secret": {Headers: other, Body: body, ReceivedAt: at.Add(time.Second)},
		"stale":        {Headers: good, Body: body, ReceivedAt: at.Add(time.Hour)},
	} {
		if err := sdktest.WriteWebhook(filepath.Join(dir, "webhooks", set, "reading.json"), w); err != nil {
			return err
		}
	}
	return nil
}
