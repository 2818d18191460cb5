package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk/sdktest"
)

// TestPluginsTestFirstParty: every first-party plugin and the template pass
// `poolhost plugins test` as real binaries (the template with its committed fixtures).
func TestPluginsTestFirstParty(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugin binaries")
	}
	for _, tc := range []struct{ pkg, fixtures string }{
		{repoRoot + "/examples/provider-template/cmd/poolhost-provider-template", repoRoot + "/examples/provider-template/testdata/conformance"},
		{repoRoot + "/plugins/generic/cmd/poolhost-provider-generic", ""},
		{repoRoot + "/plugins/ttn/cmd/poolhost-provider-ttn", ""},
		{repoRoot + "/plugins/ondilo/cmd/poolhost-provider-ondilo", ""},
		{repoRoot + "/plugins/iopool/cmd/poolhost-provider-iopool", ""},
	} {
		t.Run(tc.pkg[strings.LastIndex(tc.pkg, "-")+1:], func(t *testing.T) {
			bin := sdktest.BuildBinary(t, tc.pkg)
			var out, errOut bytes.Buffer
			if code := runPluginsTest(t.Context(), bin, tc.fixtures, "", &out, &errOut); code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), "ok    describe") || !strings.Contains(out.String(), "all checks passed") {
				t.Errorf("output:\n%s", out.String())
			}
			if tc.fixtures != "" && !strings.Contains(out.String(), "ok    webhook/stale-rejected/readings_created.json: rejected: standard webhooks: timestamp outside tolerance (too old) (reason stale_timestamp)") {
				t.Errorf("the stale fixture's rejection reason is not printed:\n%s", out.String())
			}
			if tc.fixtures != "" && !strings.Contains(out.String(), "ok    declarations: 5 setting(s), 0 connect input(s)") {
				t.Errorf("the declarations check is not printed:\n%s", out.String())
			}
		})
	}
}

// TestPluginsTestCatchesBroken: a binary that accepts unsigned webhooks fails with a
// non-zero exit and says which checks failed.
func TestPluginsTestCatchesBroken(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugin binaries")
	}
	bin := sdktest.BuildBinary(t, "github.com/poolhost/poolhost/sdk/sdktest/testdata/broken/cmd/acceptsunsigned")
	var out, errOut bytes.Buffer
	if code := runPluginsTest(t.Context(), bin, "", "", &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "FAIL  webhook/unsigned-rejected: ") || !strings.Contains(out.String(), "check(s) failed") {
		t.Errorf("output:\n%s", out.String())
	}
	// a missing binary or fixture directory is a clear error, not a panic
	if code := runPluginsTest(t.Context(), bin, t.TempDir()+"/nope", "", &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "fixtures:") {
		t.Errorf("missing fixtures: exit %d, %s", code, errOut.String())
	}
}
