package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/sdktest/testdata/broken"
)

// TestPLUGINSmdPollChecks: Testing lists every poll check the suite runs, by the name
// it prints, and the cap on polls it feeds a cursor back for.
func TestPLUGINSmdPollChecks(t *testing.T) {
	b, err := os.ReadFile(pluginsMD)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	fx := sdktest.Fixtures{Poll: func() (sdk.PollRequest, error) { return sdk.PollRequest{Account: broken.PollAccount()}, nil }}
	var names []string
	for _, r := range sdktest.Checks(t.Context(), sdktest.Direct(broken.NewPoller(broken.PollCorrect)), fx) {
		if strings.HasPrefix(r.Check, "poll/") {
			names = append(names, r.Check)
			if !strings.Contains(doc, "\n- `"+r.Check+"`: ") {
				t.Errorf("PLUGINS.md's Testing does not list the check %s", r.Check)
			}
		}
	}
	if len(names) != 3 {
		t.Errorf("poll checks %v; PLUGINS.md says three", names)
	}
	if want := fmt.Sprintf("(at most `sdktest.MaxPolls`, %d)", sdktest.MaxPolls); !strings.Contains(doc, want) {
		t.Errorf("PLUGINS.md does not say %q", want)
	}
}
