package sdktest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/sdktest/testdata/broken"
)

func pollFixtures() sdktest.Fixtures {
	fx := fixtures()
	fx.Poll = func() (sdk.PollRequest, error) { return sdk.PollRequest{Account: broken.PollAccount()}, nil }
	return fx
}

// result returns the result of the check named name.
func result(t *testing.T, rs []sdktest.Result, name string) sdktest.Result {
	t.Helper()
	for _, r := range rs {
		if r.Check == name {
			return r
		}
	}
	t.Fatalf("no check %s", name)
	return sdktest.Result{}
}

// TestPollGood: a correct polling adapter passes every poll check, in process and over
// the real gRPC shims, with the cursor and rotated credentials fed back as the host does.
func TestPollGood(t *testing.T) {
	sdktest.Run(t, broken.NewPoller(broken.PollCorrect), pollFixtures())
	for _, target := range []sdktest.Target{sdktest.Direct(broken.NewPoller(broken.PollCorrect)), sdktest.Connect(t, broken.NewPoller(broken.PollCorrect))} {
		rs := sdktest.Checks(t.Context(), target, pollFixtures())
		for check, detail := range map[string]string{
			"poll/first":           `2 readings, cursor "`,
			"poll/cursor-fed-back": "3 more readings in 2 more polls, none repeated, then nothing new",
			"poll/nothing-new":     `no readings, no error, cursor "`,
		} {
			if r := result(t, rs, check); r.Err != nil || !strings.Contains(r.Detail, detail) {
				t.Errorf("%T %s: %v %q, want detail %q", target, check, r.Err, r.Detail, detail)
			}
		}
	}
}

// TestPollSkipped: without poll capability, or without a Poll fixture, the poll checks
// say why they did not run.
func TestPollSkipped(t *testing.T) {
	r := result(t, sdktest.Checks(t.Context(), sdktest.Direct(broken.Good{}), pollFixtures()), "poll")
	if r.Skipped != "the plugin does not declare polling" {
		t.Errorf("not polling: %+v", r)
	}
	r = result(t, sdktest.Checks(t.Context(), sdktest.Direct(broken.NewPoller(broken.PollCorrect)), fixtures()), "poll")
	if !strings.HasPrefix(r.Skipped, "no Poll fixture (poll.json, or Fixtures.Poll") {
		t.Errorf("no fixture: %+v", r)
	}
}

// TestPollCatchesBrokenPollers: each way a poll has gone wrong in the host fails the
// check that proves it, saying what the host would do.
func TestPollCatchesBrokenPollers(t *testing.T) {
	for _, tc := range []struct{ bug, check, msg string }{
		{broken.PollIgnoresCursor, "poll/cursor-fed-back", "reading 0 (ph of pool-1 at "},
		{broken.PollIgnoresCursor, "poll/cursor-fed-back", ") was already returned by poll 1; a cursor fed back must bring only what is newer"},
		{broken.PollInclusiveCursor, "poll/cursor-fed-back", "poll 2, with cursor "},
		{broken.PollInclusiveCursor, "poll/cursor-fed-back", ": reading 0 (ph of pool-1 at "},
		{broken.PollEmitsPH, "poll/first", `reading 0 (pH): dropped as unknown_metric: metric names are exact, lowercase: "ph"`},
		{broken.PollAbsurdValue, "poll/first", "reading 0 (ph): dropped as absurd_value: 42 pH is outside ph's range 0…14 pH"},
		{broken.PollFailsWhenEmpty, "poll/cursor-fed-back", "poll 4, with cursor "},
		{broken.PollFailsWhenEmpty, "poll/cursor-fed-back", "failed: temporary: no new readings (a poll that finds nothing new is a success: no readings, the cursor, no error)"},
		{broken.PollResetsWhenEmpty, "poll/nothing-new", `found nothing new answered NextCursor ""; the host stores it as is, so the next poll starts from the beginning`},
		{broken.PollNULCursor, "poll/first", "the host would not keep all of it:\nrefused (cap cursor): plugin answer refused: the poll cursor holds a NUL byte, which the database cannot store"},
		{broken.PollDropsCredentials, "poll/cursor-fed-back", `refresh token "r1" was already used`},
		{broken.PollDropsCredentials, "poll/cursor-fed-back", "did an earlier poll refresh the tokens without handing them back in RefreshedCredentials?"},
	} {
		t.Run(tc.bug, func(t *testing.T) {
			rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.NewPoller(tc.bug)), pollFixtures())
			wantFailure(t, rs, tc.check, tc.msg)
		})
	}
	t.Run("first poll finds nothing", func(t *testing.T) {
		fx := pollFixtures()
		fx.Poll = func() (sdk.PollRequest, error) {
			return sdk.PollRequest{Account: broken.PollAccount(), Cursor: time.Now().UTC().Format(time.RFC3339Nano)}, nil
		}
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.NewPoller(broken.PollCorrect)), fx)
		wantFailure(t, rs, "poll/first", "found no readings: the Poll fixture's account must have readings waiting at your fake provider")
		wantFailure(t, rs, "poll/cursor-fed-back", "not run: the first poll failed")
	})
	t.Run(broken.PollSlow, func(t *testing.T) {
		defer setTimings(200*time.Millisecond, 300*time.Millisecond)()
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.NewPoller(broken.PollSlow)), pollFixtures())
		wantFailure(t, rs, "poll/first", "failed: did not answer within 200ms (the kit's CallDeadline; a late webhook is kept for retry, a late poll backs off")
	})
	t.Run(broken.PollIgnoresDeadline, func(t *testing.T) {
		defer setTimings(200*time.Millisecond, 300*time.Millisecond)()
		p := broken.NewPoller(broken.PollIgnoresDeadline)
		defer close(p.Release)
		rs := sdktest.Checks(t.Context(), sdktest.Direct(p), pollFixtures())
		wantFailure(t, rs, "poll/first", "failed: hangs past its deadline (ignores the context): no answer 300ms after a 200ms deadline")
	})
}

// TestPollFixtureFile: poll.json in a fixture directory is the Poll fixture of a plugin
// in any language (`poolhost plugins test --fixtures DIR`).
func TestPollFixtureFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "poll.json")
	if err := os.WriteFile(path, []byte(`{"account": {"id": "1", "external_account_id": "acct-1", "credentials": {"access_token": "expired", "refresh_token": "r1"}}, "cursor": ""}`), 0o644); err != nil {
		t.Fatal(err)
	}
	fx, err := sdktest.LoadFixtures(dir)
	if err != nil {
		t.Fatal(err)
	}
	rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.NewPoller(broken.PollCorrect)), fx)
	for _, name := range []string{"poll/first", "poll/cursor-fed-back", "poll/nothing-new"} {
		if r := result(t, rs, name); r.Err != nil || r.Skipped != "" {
			t.Errorf("%s: %v %s", name, r.Err, r.Skipped)
		}
	}
	wantFailure(t, sdktest.Checks(t.Context(), sdktest.Direct(broken.NewPoller(broken.PollIgnoresCursor)), fx), "poll/cursor-fed-back", "already returned by poll 1")
	if err := os.WriteFile(path, []byte(`{"acount": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sdktest.LoadFixtures(dir); err == nil || !strings.Contains(err.Error(), `poll.json: json: unknown field "acount"`) {
		t.Errorf("typo: %v", err)
	}
}
