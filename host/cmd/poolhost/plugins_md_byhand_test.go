package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPLUGINSmdByHand runs PLUGINS.md's "in a host by hand" walk as written, for a module
// of `plugins new acme --connect api_key --poll --commands pump.set`: its fake served by
// `upstreamtest/cmd/fake` (the URL it prints in the doc's block), the doc's block appended
// to a copy of examples/dev.hcl with the real pin, step 4's user, token and pool, then the
// doc's shell block run by bash — connect with the key, link, polling turned on by a
// reload, the polled readings, a signed provider-level delivery, a command to equipment
// bound to the device — each answer it shows (`# …`) the host's, in order.
func TestPLUGINSmdByHand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every plugin and serves")
	}
	for _, tool := range []string{"make", "bash", "curl", "jq", "openssl", "od", "base64", "go", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the walk needs %s", tool)
		}
	}
	raw, err := os.ReadFile(pluginsMD)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	const section = "**A polling, `oauth2` or commanding module in a host by hand.**"
	b := buildE2E(t)

	sdkDir, err := filepath.Abs(repoRoot + "/sdk")
	if err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(t.TempDir(), "poolhost-provider-acme")
	var out, errOut bytes.Buffer
	if code := runPluginsNew(t.Context(), "acme", mod, "api_key", sdkDir, []string{"pump.set"}, true, &out, &errOut); code != 0 {
		t.Fatalf("plugins new: exit %d %s %s", code, out.String(), errOut.String())
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = mod
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %v: %v\n%s\n%s", name, args, err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	run("make", "install", "PLUGIN_DIR="+b.pluginDir)
	pin := strings.TrimSpace(run("make", "-s", "pin", "POOLHOST="+b.poolhost))

	// The module's fake, as `go run ./upstreamtest/cmd/fake` serves it.
	fakeBin := filepath.Join(t.TempDir(), "fake")
	run("go", "build", "-o", fakeBin, "./upstreamtest/cmd/fake")
	fake := exec.Command(fakeBin)
	stdout, err := fake.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Process.Kill(); fake.Wait() })
	first, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the fake said %q: %v", first, err)
	}
	fakeURL := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(first)
	if fakeURL == "" {
		t.Fatalf("the fake's first line names no URL: %q", first)
	}

	// The doc's block, with the real pin and the fake's URL.
	block := docBetween(t, doc, section, "<<'HCL'\n", "HCL\n")
	m := docPinRE.FindStringSubmatch(block)
	docURL := regexp.MustCompile(`base_url = "(http://127\.0\.0\.1:\d+)"`).FindStringSubmatch(block)
	if m == nil || docURL == nil {
		t.Fatalf("the block has no sha256 or no base_url of a fake:\n%s", block)
	}
	block = strings.NewReplacer(m[1], pin, docURL[1], fakeURL, `file("../data/`, `file("data/`).Replace(block)
	c := writeE2EConfig(t, b, func(s string) string {
		// The poll worker ticks every 30s in dev.hcl; the walk waits for one tick.
		s = regexp.MustCompile(`(?s)(poll_worker \{.*?interval\s*=\s*)"30s"`).ReplaceAllString(s, `${1}"1s"`)
		return s + block
	})
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")

	// Step 4's user, token, API, AUTH and pool, then the section's shell block.
	var prelude []string
	for _, l := range strings.Split(docBetween(t, doc, "**4. Receive a webhook.**", "```sh\n", "```"), "\n") {
		for _, p := range []string{"bin/poolhost users create", "TOKEN=", "API=", "POOL="} {
			if strings.HasPrefix(l, p) {
				prelude = append(prelude, l)
			}
		}
	}
	if len(prelude) != 4 {
		t.Fatalf("step 4's shell block no longer makes the user, token, API and pool in four lines: %q", prelude)
	}
	script := docBetween(t, doc, section, "```sh\n", "```")
	dataDir := filepath.Join(filepath.Dir(c.path), "data")
	shell := strings.NewReplacer("bin/poolhost", b.poolhost, "examples/dev-acme.hcl", c.path,
		"http://127.0.0.1:8080", c.baseURL, "cat data/", "cat "+dataDir+"/").Replace(strings.Join(prelude, "\n") + "\n" + script)
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", shell)
	var sout, serr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &sout, &serr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the section's shell block: %v\n%s\n%s\nserve:\n%s", err, sout.String(), serr.String(), srv.out.String())
	}
	printed := strings.Split(sout.String(), "\n")
	shown := 0
	for _, l := range strings.Split(script, "\n") {
		want, ok := strings.CutPrefix(l, "# ")
		if !ok || !strings.HasPrefix(want, "{") && !strings.HasPrefix(want, "[") {
			continue
		}
		shown++
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(want), "…", ".*") + "$")
		found := false
		for len(printed) > 0 && !found {
			found = re.MatchString(printed[0])
			printed = printed[1:]
		}
		if !found {
			t.Errorf("PLUGINS.md shows the answer %s, which the host did not give:\n%s", want, sout.String())
		}
	}
	if shown < 4 {
		t.Errorf("the section's shell block shows %d answers; the test expects the readings, the delivery, the binding and the command", shown)
	}
}
