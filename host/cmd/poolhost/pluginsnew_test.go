package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginsNewOutOfTree: `plugins new` writes a module in a temporary directory
// outside the repository that requires only the SDK module (through a replace to this
// tree's sdk/), and it builds and passes `go test ./...` — the SDK's conformance suite
// and a launch of the built binary — as written.
func TestPluginsNewOutOfTree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests a generated module")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	sdkDir, err := filepath.Abs(repoRoot + "/sdk")
	if err != nil {
		t.Fatal(err)
	}
	// The webhook_secret module's TestInHost runs the plugin in a real poolhost: this one.
	poolhost := filepath.Join(t.TempDir(), "poolhost")
	goBuild(t, "-o", poolhost, "./host/cmd/poolhost")
	t.Setenv("POOLHOST_BIN", poolhost)
	for _, tc := range []struct {
		kind     string
		poll     bool
		commands []string
	}{{"api_key", false, nil}, {"api_key", true, nil}, {"webhook_secret", false, nil}, {"oauth2", false, nil}, {"oauth2", true, nil},
		{"oauth2", true, []string{"pump.set", "light.set"}}, {"api_key", false, []string{"pump.set"}}, {"none", false, nil}} {
		kind, name := tc.kind, tc.kind
		if tc.poll {
			name += "+poll"
		}
		if tc.commands != nil {
			name += "+commands"
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "poolhost-provider-acme")
			var out, errOut bytes.Buffer
			if code := runPluginsNew(t.Context(), "acme", dir, kind, sdkDir, tc.commands, tc.poll, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
			}
			mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err != nil {
				t.Fatal(err)
			}
			// the only poolhost module it requires is the SDK
			if strings.Contains(string(mod), "github.com/poolhost/poolhost v") || !strings.Contains(string(mod), "github.com/poolhost/poolhost/sdk v0.0.0") {
				t.Errorf("go.mod:\n%s", mod)
			}
			cmd := exec.Command(goTool, "test", "-count=1", "-v", "./...")
			cmd.Dir = dir
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go test in the generated module: %v\n%s", err, b)
			}
			if kind != "none" && !strings.Contains(string(b), "--- PASS: TestInHost") {
				t.Errorf("the generated TestInHost did not run:\n%s", b)
			}
			// --commands (api_key, oauth2): TestInHost sends commands through the host to
			// the fake, which counts them: each sent once, one answered 503 unknown and
			// not sent again.
			if tc.commands != nil && (kind == "api_key" || kind == "oauth2") {
				src, err := os.ReadFile(filepath.Join(dir, "provider_test.go"))
				if err != nil {
					t.Fatal(err)
				}
				for _, call := range []string{"h.SendCommand(", "h.WaitCommand(", "up.FailCommands(http.StatusServiceUnavailable)", "up.Commands(); n != 3"} {
					if !strings.Contains(string(src), call) {
						t.Errorf("the generated TestInHost does not call %s", call)
					}
				}
			}
			// The API client takes a query apart from the path (a poll's cursor): JoinPath
			// escaped a "?" written into the path, and the provider answered 404.
			if (kind == "api_key" || kind == "oauth2") && !strings.Contains(string(b), "--- PASS: TestGetSendsPathAndQuery") {
				t.Errorf("the generated TestGetSendsPathAndQuery did not run:\n%s", b)
			}
			// oauth2: Connect and Callback link an account at the fake's authorization
			// server, and an expired access token is refreshed and handed back (the kit's
			// Refresh fixture: a discovery, or a poll with --poll); a refused refresh is
			// reauth.
			if kind == "oauth2" {
				for _, test := range []string{"TestConformance/refresh-returns-credentials", "TestConnectAndDiscover", "TestRefreshRefused", "TestRateLimitCarriesRetryAfter"} {
					if !strings.Contains(string(b), "--- PASS: "+test+" ") {
						t.Errorf("the generated %s did not pass:\n%s", test, b)
					}
				}
			}
			// oauth2 --commands: SendCommand goes through the API client with the account's
			// access token, refreshed on a 401 as a poll's is: the kit's command checks
			// send to the fake provider (accepted, after a refresh, another device, a
			// revoked grant), and the refreshed tokens come back with the outcome, the
			// command accepted once.
			if kind == "oauth2" {
				var want []string
				for _, c := range tc.commands {
					for _, cc := range []string{"accepted", "token-expired", "other-device", "revoked-tokens"} {
						want = append(want, "TestCommandConformance/commands/"+c+"-"+cc)
					}
				}
				if tc.commands != nil {
					want = append(want, "TestCommandConformance/commands/declared", "TestCommandRefreshesOnce")
				}
				for _, test := range want {
					if !strings.Contains(string(b), "--- PASS: "+test+" ") {
						t.Errorf("the generated %s did not pass:\n%s", test, b)
					}
				}
			}
			// --poll: the plugin declares polling, and the kit's poll checks poll the fake
			// provider through it (not skipped); without, they are skipped.
			for _, check := range []string{"TestConformance/poll/first", "TestConformance/poll/cursor-fed-back", "TestConformance/poll/nothing-new", "TestPollRestartsFromUnreadableCursor"} {
				if ran := strings.Contains(string(b), "--- PASS: "+check+" "); ran != tc.poll {
					t.Errorf("poll %v: the generated TestConformance ran %s: %v\n%s", tc.poll, check, ran, b)
				}
			}
			// The built binary passes the same checks on the language-neutral fixtures
			// (what the generated Makefile's conformance target runs).
			bin := filepath.Join(dir, "poolhost-provider-acme")
			build := exec.Command(goTool, "build", "-o", bin, "./cmd/poolhost-provider-acme")
			build.Dir = dir
			if b, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, b)
			}
			var report, reportErr bytes.Buffer
			if code := runPluginsTest(t.Context(), bin, filepath.Join(dir, "testdata", "conformance"), "", &report, &reportErr); code != 0 ||
				!strings.Contains(report.String(), "ok    webhook/valid-accepted/reading.json: accepted, 2 readings") ||
				!strings.Contains(report.String(), "ok    webhook/stale-rejected/reading.json") {
				t.Errorf("plugins test on the generated fixtures: exit %d\n%s\n%s", code, report.String(), reportErr.String())
			}
			// make conformance runs the checks that call the provider on the built binary
			// too, while upstreamtest/cmd/withfake serves the fake (PLUGINS.md's quick
			// start and Testing): --poll's poll checks (without it, they were skipped for
			// want of a poll.json), oauth2's refresh (refresh.json: an account whose access
			// token expired at the fake) and --commands' cases (commands.json: those of
			// TestCommandConformance), rather than skipping them. Without any of these
			// there is nothing to serve, and no withfake.
			fake := tc.poll || kind == "oauth2" || (kind == "api_key" && tc.commands != nil)
			if _, err := os.Stat(filepath.Join(dir, "upstreamtest", "cmd", "withfake")); (err == nil) != fake {
				t.Errorf("withfake written: %v, want %v", err == nil, fake)
			}
			if fake {
				tmp := t.TempDir() // where withfake's copy of the fixtures goes, and is removed from
				mk := exec.Command("make", "conformance", "POOLHOST="+poolhost)
				mk.Dir, mk.Env = dir, append(os.Environ(), "TMPDIR="+tmp)
				b, err := mk.CombinedOutput()
				if err != nil {
					t.Fatalf("make conformance: %v\n%s", err, b)
				}
				var want []string
				written := "commands.json" // a file withfake writes into its copy
				if tc.poll {
					want = append(want, "poll/first: ", "poll/cursor-fed-back: ", "poll/nothing-new: ")
					written = "poll.json"
					if strings.Contains(string(b), "SKIP  poll") {
						t.Errorf("make conformance skipped polling:\n%s", b)
					}
				}
				if kind == "oauth2" {
					want = append(want, "refresh-returns-credentials\n")
					if !tc.poll {
						written = "refresh.json"
					}
					if strings.Contains(string(b), "SKIP  refresh") {
						t.Errorf("make conformance skipped the refresh:\n%s", b)
					}
				}
				if tc.commands != nil {
					want = append(want, fmt.Sprintf("commands/declared: %d command(s)\n", len(tc.commands)))
				}
				for _, c := range tc.commands {
					want = append(want, "commands/"+c+"-accepted: sent\n", "commands/"+c+"-other-device: permanent\n")
					if kind == "oauth2" {
						want = append(want, "commands/"+c+"-revoked-tokens: unauthorized\n", "commands/"+c+"-token-expired: sent\n")
					} else {
						want = append(want, "commands/"+c+"-revoked-key: unauthorized\n")
					}
				}
				for _, check := range want {
					if !strings.Contains(string(b), "\nok    "+check) {
						t.Errorf("make conformance did not pass %s:\n%s", strings.TrimSpace(check), b)
					}
				}
				if strings.Contains(string(b), "SKIP  commands/errors") {
					t.Errorf("make conformance skipped the command cases:\n%s", b)
				}
				// A failing command: withfake exits with its status, after removing the
				// copy it gave it (its files written, the fixtures argument replaced).
				withfake := filepath.Join(t.TempDir(), "withfake")
				build := exec.Command(goTool, "build", "-o", withfake, "./upstreamtest/cmd/withfake")
				build.Dir = dir
				if b, err := build.CombinedOutput(); err != nil {
					t.Fatalf("go build withfake: %v\n%s", err, b)
				}
				fail := exec.Command(withfake, "testdata/conformance", "sh", "-c", `test -s "$1/$2" && exit 3`, "sh", "testdata/conformance", written)
				fail.Dir, fail.Env = dir, append(os.Environ(), "TMPDIR="+tmp)
				if b, err := fail.CombinedOutput(); fail.ProcessState == nil || fail.ProcessState.ExitCode() != 3 {
					t.Errorf("withfake running a command that exits 3 (%s written): %v\n%s", written, err, b)
				}
				if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
					t.Errorf("withfake left %v in TMPDIR (%v)", left, err)
				}
			}
			if kind == "webhook_secret" { // the quick start's module
				printed := strings.ReplaceAll(out.String(), dir, "poolhost-provider-acme") + strings.ReplaceAll(report.String(), bin, "./poolhost-provider-acme")
				checkQuickStartSample(t, printed)
			}
			if mk, err := os.ReadFile(filepath.Join(dir, "Makefile")); err != nil || !strings.Contains(string(mk), "$(BIN).tmp && mv") {
				t.Errorf("Makefile: %v\n%s", err, mk)
			}
			// a second run refuses to overwrite
			if code := runPluginsNew(t.Context(), "acme", dir, kind, sdkDir, tc.commands, tc.poll, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "not empty") {
				t.Errorf("overwrite: exit %d, %s", code, errOut.String())
			}
		})
	}
	var out, errOut bytes.Buffer
	if code := runPluginsNew(t.Context(), "Acme!", t.TempDir(), "api_key", "", nil, false, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "must match") {
		t.Errorf("bad id: exit %d, %s", code, errOut.String())
	}
	if code := runPluginsNew(t.Context(), "acme", t.TempDir(), "carrier_pigeon", "", nil, false, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "--connect") {
		t.Errorf("bad connect: exit %d, %s", code, errOut.String())
	}
	// Polling needs the API client and fake only api_key and oauth2 write.
	if code := runPluginsNew(t.Context(), "acme", t.TempDir(), "webhook_secret", sdkDir, nil, true, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "--poll needs --connect api_key or oauth2") {
		t.Errorf("--poll with webhook_secret: exit %d, %s", code, errOut.String())
	}
}

// TestPluginsNewAgreesWithPLUGINSmd: the scaffold writes what PLUGINS.md says a plugin
// does — its HTTP client has no timeout of its own (Deadlines: the call's context is the
// one clock), it names its connect kind by the SDK's constant, and it passes a metric it
// has no mapping for through unchanged (the generated TestUnknownMetricPassesThrough,
// run by TestPluginsNewOutOfTree, proves the behaviour).
func TestPluginsNewAgreesWithPLUGINSmd(t *testing.T) {
	t.Setenv("PATH", "") // no go tool: no go mod tidy, only the files
	for kind, constant := range map[string]string{"api_key": "sdk.ConnectAPIKey", "oauth2": "sdk.ConnectOAuth2",
		"webhook_secret": "sdk.ConnectWebhookSecret", "none": "sdk.ConnectNone"} {
		t.Run(kind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "poolhost-provider-acme")
			var out, errOut bytes.Buffer
			if code := runPluginsNew(t.Context(), "acme", dir, kind, repoRoot+"/sdk", nil, false, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			provider, err := os.ReadFile(filepath.Join(dir, "provider.go"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(provider), "Connect: "+constant+",") || strings.Contains(string(provider), "sdk.ConnectKind(") {
				t.Errorf("provider.go does not name its connect kind %s", constant)
			}
			if strings.Contains(string(provider), "metric.Lookup") {
				t.Errorf("provider.go filters metrics by the vocabulary; PLUGINS.md says pass unknown ones through")
			}
			if kind == "webhook_secret" && !strings.Contains(string(provider), "signature.GenerateSecret()") {
				t.Errorf("provider.go makes its webhook secret by hand; PLUGINS.md says signature.GenerateSecret()")
			}
			if kind != "api_key" && kind != "oauth2" {
				return
			}
			client, err := os.ReadFile(filepath.Join(dir, "client.go"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(client), "Timeout") {
				t.Errorf("client.go sets an http.Client timeout; PLUGINS.md's Deadlines say none of its own:\n%s", client)
			}
		})
	}
}

// TestPluginsNewCommands: `plugins new --commands` writes a plugin that implements
// sdk.Commander and declares the commands; its own `go test` runs the conformance suite's
// SendCommand cases against the fake provider (sent, other device permanent, revoked key
// unauthorized). A name outside sdk/command is refused, listing the vocabulary.
func TestPluginsNewCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests a generated module")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	sdkDir, err := filepath.Abs(repoRoot + "/sdk")
	if err != nil {
		t.Fatal(err)
	}
	for kind, commands := range map[string][]string{"api_key": {"pump.set", "light.set"}} {
		t.Run(kind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "poolhost-provider-acme")
			var out, errOut bytes.Buffer
			if code := runPluginsNew(t.Context(), "acme", dir, kind, sdkDir, commands, false, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
			}
			cmd := exec.Command(goTool, "test", "-count=1", "-v", "-run", "TestCommandConformance", ".")
			cmd.Dir = dir
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go test in the generated module: %v\n%s", err, b)
			}
			want := []string{"--- PASS: TestCommandConformance", "commands/declared"}
			for _, c := range commands {
				want = append(want, "commands/"+c+"-accepted", "commands/"+c+"-other-device", "commands/"+c+"-revoked-key")
			}
			for _, w := range want {
				if !strings.Contains(string(b), w) {
					t.Errorf("generated test output lacks %q:\n%s", w, b)
				}
			}
		})
	}
	var out, errOut bytes.Buffer
	if code := runPluginsNew(t.Context(), "acme", t.TempDir(), "api_key", "", []string{"pump.set", "pump.explode"}, false, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), `"pump.explode" is not a command`) || !strings.Contains(errOut.String(), "chlorinator.set_output, dosing.dose") {
		t.Errorf("unknown command: exit %d, %s", code, errOut.String())
	}
}

// TestPluginsNewCommandsNeedAnAPI: --commands with --connect webhook_secret or none is
// refused as a usage mistake (exit 2), saying why, and nothing is written. It wrote a
// SendCommand stub that refused every command as "not implemented", and tests wanting
// exactly that: a plugin declaring Write that passed its conformance suite and failed
// every command a host sent it (and a none provider has no accounts, so no devices the
// host could command at all).
func TestPluginsNewCommandsNeedAnAPI(t *testing.T) {
	sdkDir, err := filepath.Abs(repoRoot + "/sdk")
	if err != nil {
		t.Fatal(err)
	}
	for kind, why := range map[string]string{
		"webhook_secret": "--commands needs --connect api_key or oauth2, whose scaffold has an API client to send commands through",
		"none":           "--commands with --connect none: the host links no accounts for such a provider",
	} {
		t.Run(kind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "poolhost-provider-acme")
			var out, errOut bytes.Buffer
			code := dispatch(t.Context(), []string{"plugins", "new", "--dir", dir, "--connect", kind, "--sdk", sdkDir, "--commands", "pump.set", "acme"}, &out, &errOut)
			if code != 2 || !strings.Contains(errOut.String(), why) || !strings.Contains(errOut.String(), "PLUGINS.md's SendCommand") {
				t.Errorf("plugins new --connect %s --commands pump.set: exit %d, stderr %q; want 2 saying %q", kind, code, errOut.String(), why)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("plugins new --connect %s --commands wrote %s (%v)", kind, dir, err)
			}
			// Without --commands the kind is fine.
			t.Setenv("PATH", "") // no go tool: no go mod tidy, only the files
			if code := runPluginsNew(t.Context(), "acme", dir, kind, sdkDir, nil, false, &out, &errOut); code != 0 {
				t.Errorf("plugins new --connect %s: exit %d, %s", kind, code, errOut.String())
			}
		})
	}
}

// TestPluginsNewNeedsAnSDK: the generated go.mod requires the SDK at v0.0.0, which no
// module proxy has (no SDK release is tagged yet): without --sdk, and run from another
// place than a checkout's bin/, plugins new refuses, saying what to pass, and writes
// nothing (it wrote the module, then failed in go mod tidy with a screen of 403s). Run
// as a checkout's bin/poolhost, it takes that checkout's sdk/.
func TestPluginsNewNeedsAnSDK(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "poolhost-provider-acme")
	var out, errOut bytes.Buffer
	if code := runPluginsNew(t.Context(), "acme", dir, "api_key", "", nil, false, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "--sdk is needed: no SDK release is tagged yet") {
		t.Fatalf("plugins new without --sdk: exit %d, %s", code, errOut.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("plugins new without --sdk wrote %s (%v)", dir, err)
	}

	checkout := t.TempDir()
	for _, d := range []string{"sdk", "bin"} {
		if err := os.Mkdir(filepath.Join(checkout, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeTestFile(t, filepath.Join(checkout, "sdk", "go.mod"), "module github.com/poolhost/poolhost/sdk\n\ngo 1.26.0\n")
	writeTestFile(t, filepath.Join(checkout, "bin", "poolhost"), "")
	if got := sdkBeside(filepath.Join(checkout, "bin", "poolhost")); got != filepath.Join(checkout, "sdk") {
		t.Errorf("sdkBeside(a checkout's bin/poolhost) = %q, want its sdk/", got)
	}
	if got := sdkBeside(filepath.Join(t.TempDir(), "poolhost")); got != "" {
		t.Errorf("sdkBeside(a binary outside a checkout) = %q, want none", got)
	}
	// PLUGINS.md shows the go.mod lines a plugin outside the repository needs: the ones
	// the template writes.
	tmpl, err := newplugin.ReadFile("newplugin/go.mod.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(repoRoot, "PLUGINS.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(tmpl), "\n") {
		if strings.HasPrefix(line, "require ") || strings.HasPrefix(line, "replace ") {
			line, _, _ = strings.Cut(line, "{{")
			if !strings.Contains(string(md), "\n"+line) {
				t.Errorf("PLUGINS.md does not show the go.mod line %q that plugins new writes", line)
			}
		}
	}
}

// TestPluginsNewNextStepsNameThisPoolhost: the line plugins new ends with names the
// poolhost that wrote the module (a checkout's bin/poolhost), so `make test conformance`
// runs as printed; it said POOLHOST=path/to/poolhost, and `make test` without it found no
// poolhost on PATH and skipped TestInHost.
func TestPluginsNewNextStepsNameThisPoolhost(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "it's bin", "poolhost")
	other := filepath.Join(dir, "poolhost.test")
	for _, f := range []string{bin, other} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "ph")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	quoted := "'" + strings.ReplaceAll(bin, "'", `'\''`) + "'"
	for _, tc := range []struct{ exe, want string }{
		{bin, "next: cd poolhost-provider-acme && make test conformance POOLHOST=" + quoted + ", then see PLUGINS.md's quick start"},
		{link, "POOLHOST=" + quoted + ","},
		{other, "POOLHOST=path/to/poolhost,"}, // not a poolhost (a test binary)
	} {
		if got := nextSteps("poolhost-provider-acme", tc.exe); !strings.Contains(got, tc.want) {
			t.Errorf("nextSteps(%s) = %s, want it to contain %s", tc.exe, got, tc.want)
		}
	}
	// The words are the shell's: the quoted path is one word that reads back as it is.
	out, err := exec.Command("sh", "-c", "printf %s "+quoted).Output()
	if err != nil || string(out) != bin {
		t.Errorf("sh read %s as %q (%v), want %q", quoted, out, err, bin)
	}
}

// TestPluginsNewServesItsFake: an api_key or oauth2 module has upstreamtest/cmd/fake,
// which serves the fake provider until interrupted and prints what the provider block
// and a connect need, so the plugin can be tried in a running host by hand without
// writing a main first (PLUGINS.md's quick start). The fake's account answers with the
// key it prints.
func TestPluginsNewServesItsFake(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a generated module")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	for _, tc := range []struct {
		kind     string
		poll     bool
		commands []string
	}{{"api_key", true, []string{"pump.set"}}, {"api_key", false, nil}, {"oauth2", true, nil}, {"oauth2", false, []string{"pump.set"}}} {
		t.Run(tc.kind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "poolhost-provider-acme")
			var out, errOut bytes.Buffer
			if code := runPluginsNew(t.Context(), "acme", dir, tc.kind, repoRoot+"/sdk", tc.commands, tc.poll, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
			}
			bin := filepath.Join(t.TempDir(), "fake")
			build := exec.Command(goTool, "build", "-o", bin, "./upstreamtest/cmd/fake")
			build.Dir = dir
			if b, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build ./upstreamtest/cmd/fake: %v\n%s", err, b)
			}
			fake := exec.CommandContext(t.Context(), bin)
			stdout, err := fake.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := fake.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { fake.Process.Kill(); fake.Wait() })
			var said bytes.Buffer
			line := make([]byte, 4096)
			for !strings.Contains(said.String(), "then discover") {
				n, err := stdout.Read(line)
				said.Write(line[:n])
				if err != nil {
					t.Fatalf("the fake said %q, then %v", said.String(), err)
				}
			}
			text := said.String()
			url := strings.Fields(strings.SplitN(text, " serves ", 2)[1])[0]
			for _, want := range []string{`settings = { base_url = "` + url + `"`, "POST /v1/providers/acme/connect", "probe-1"} {
				if !strings.Contains(text, want) {
					t.Errorf("the fake's words lack %q:\n%s", want, text)
				}
			}
			if tc.kind == "oauth2" {
				if !strings.Contains(text, `client_id = "poolhost-client"`) || !strings.Contains(text, "poolhost-client-secret") {
					t.Errorf("the fake does not say its OAuth client:\n%s", text)
				}
				return
			}
			if !strings.Contains(text, `{"input":{"api_key":"key-1"}}`) {
				t.Errorf("the fake does not say the key to connect with:\n%s", text)
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/v1/devices", nil)
			req.Header.Set("Authorization", "Bearer key-1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"probe-1"`) {
				t.Errorf("GET /v1/devices with key-1: %d %s", resp.StatusCode, body)
			}
		})
	}
}
