package pluginmgr_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/judge"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// TestPollJudgedOnce: a poll's answer is judged by one call, judge.Caps.CheckPoll, on the
// host's poll path and in the conformance kit's poll checks. The same bad answers go
// through both — a real plugin process polled by the host, and an adapter the kit polls
// — and each must be refused on the same cap first, in the same words, whichever caps
// it breaks together. Until both called CheckPoll the host named the readings and the
// kit the cursor of an answer breaking both. On the host side the refusal is counted
// under that cap, and the tokens the plugin refreshed stay on the error unless they are
// what was refused.
func TestPollJudgedOnce(t *testing.T) {
	const maxReadings, maxBytes = 2, 64
	caps := judge.Caps{MaxReadingsPerCall: maxReadings, MaxRawPayloadBytes: maxBytes}
	reading := sdk.Reading{ProviderDeviceID: "dev-1", Metric: "ph", Value: 7.2}
	var (
		goodCreds   = sdk.Credentials{"access_token": "fresh"}
		bigCreds    = sdk.Credentials{"access_token": strings.Repeat("t", maxBytes)}
		tooMany     = []sdk.Reading{reading, reading, reading}
		longMetric  = []sdk.Reading{{ProviderDeviceID: "dev-1", Metric: strings.Repeat("m", 65), Value: 1}}
		longCursor  = strings.Repeat("c", maxBytes+1)
		nulCursor   = "page\x002"
		manyUpdates = make([]sdk.CommandUpdate, judge.MaxCommandUpdatesPerCall+1)
	)
	for i := range manyUpdates {
		manyUpdates[i] = sdk.CommandUpdate{CommandID: fmt.Sprint(i), Status: sdk.CommandDelivered}
	}
	for _, tc := range []struct {
		name string
		res  sdk.PollResult
		cap  string
	}{
		{"credentials", sdk.PollResult{Readings: []sdk.Reading{reading}, NextCursor: "c", RefreshedCredentials: bigCreds}, judge.CapCredentials},
		{"readings", sdk.PollResult{Readings: tooMany, NextCursor: "c", RefreshedCredentials: goodCreds}, "readings"},
		{"metric", sdk.PollResult{Readings: longMetric, NextCursor: "c"}, "metric"},
		{"command updates", sdk.PollResult{Readings: []sdk.Reading{reading}, NextCursor: "c", CommandUpdates: manyUpdates}, "command_updates"},
		{"cursor", sdk.PollResult{Readings: []sdk.Reading{reading}, NextCursor: longCursor, RefreshedCredentials: goodCreds}, "cursor"},
		{"NUL in cursor", sdk.PollResult{Readings: []sdk.Reading{reading}, NextCursor: nulCursor}, "cursor"},
		{"all together", sdk.PollResult{Readings: tooMany, NextCursor: longCursor, RefreshedCredentials: bigCreds}, judge.CapCredentials},
		{"readings and cursor", sdk.PollResult{Readings: tooMany, NextCursor: longCursor, RefreshedCredentials: goodCreds}, "readings"},
		{"metric and cursor", sdk.PollResult{Readings: longMetric, NextCursor: nulCursor}, "metric"},
		{"credentials and cursor", sdk.PollResult{Readings: []sdk.Reading{reading}, NextCursor: longCursor, RefreshedCredentials: bigCreds}, judge.CapCredentials},
		{"command updates and cursor", sdk.PollResult{Readings: []sdk.Reading{reading}, NextCursor: nulCursor, CommandUpdates: manyUpdates}, "command_updates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostErr := hostPoll(t, tc.res, fmt.Sprintf("max_readings_per_call = %d\n  max_raw_payload_bytes = %d", maxReadings, maxBytes), tc.cap)
			kit := kitPoll(t, tc.res, caps)
			var e *sdk.Error
			if !errors.As(hostErr, &e) {
				t.Fatalf("the host's refusal %v is not an sdk error", hostErr)
			}
			// The kit's words for the host's refusal (judge.Verdict.Problems).
			want := fmt.Sprintf("the host would not keep all of it:\nrefused (cap %s): %s", judge.CapOf(hostErr), e.Message)
			if kit == nil || kit.Error() != want {
				t.Fatalf("the kit's poll/first says\n%v\nthe host refused with\n%s", kit, want)
			}
		})
	}
}

// hostPoll polls a plugin process answering res through the host's poll path (caps its
// plugins { } settings) and returns the refusal, checked to be on wantCap, counted once
// under it, and carrying the plugin's refreshed tokens unless they were refused.
func hostPoll(t *testing.T, res sdk.PollResult, caps, wantCap string) error {
	t.Helper()
	e := newEnv(t)
	e.installID("alpha")
	e.plugins += "  " + caps + "\n"
	answer := filepath.Join(e.dir, "poll.json")
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(answer, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m, reg, err := e.manager(e.config(fmt.Sprintf(`provider "alpha" {
  poll     = true
  settings = { poll_answer = %q }
}`, answer)))
	if err != nil {
		t.Fatal(err)
	}
	got, refused := mustGet(t, m, "alpha").PollReadings(context.Background(), sdk.PollRequest{})
	if refused == nil {
		t.Fatalf("the host kept the poll's answer: %d readings, cursor %.20q", len(got.Readings), got.NextCursor)
	}
	if c := judge.CapOf(refused); c != wantCap || !sdk.IsKind(refused, sdk.KindPermanent) {
		t.Fatalf("the host refused on cap %q (%s): %.300v; want %q", c, sdk.KindOf(refused), refused, wantCap)
	}
	creds, kept := sdk.RefreshedCredentialsOf(refused)
	if wantKept := res.RefreshedCredentials != nil && wantCap != judge.CapCredentials; kept != wantKept || (kept && creds["access_token"] != res.RefreshedCredentials["access_token"]) {
		t.Fatalf("refreshed credentials on the error: %v (%v), want them there: %v", kept, creds, wantKept)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "poolhost_plugin_answers_refused_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["provider"] == "alpha" && labels["method"] == "poll_readings" {
				counted[labels["limit"]] += mt.GetCounter().GetValue()
			}
		}
	}
	if len(counted) != 1 || counted[wantCap] != 1 {
		t.Fatalf("refusals counted %v, want one under %q", counted, wantCap)
	}
	return refused
}

// kitPoll runs the conformance kit's poll checks on an adapter answering res, the kit
// judging it against caps, and returns what poll/first reports.
func kitPoll(t *testing.T, res sdk.PollResult, caps judge.Caps) error {
	t.Helper()
	fx := sdktest.Fixtures{Caps: caps, Poll: func() (sdk.PollRequest, error) { return sdk.PollRequest{}, nil }}
	for _, r := range sdktest.Checks(t.Context(), sdktest.Direct(answering{res}), fx) {
		if r.Check == "poll/first" {
			return r.Err
		}
	}
	t.Fatal("the kit ran no poll/first check")
	return nil
}

// answering is a polling adapter that answers every poll with its result.
type answering struct{ res sdk.PollResult }

func (a answering) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "alpha", Version: "0.0.1-test", ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{Connect: sdk.ConnectAPIKey, Poll: true}}, nil
}
func (answering) Configure(context.Context, sdk.ConfigureRequest) error { return nil }
func (answering) Connect(context.Context, sdk.ConnectRequest) (sdk.ConnectResult, error) {
	return sdk.ConnectResult{}, sdk.Permanent("not linked in this test")
}
func (answering) Callback(context.Context, sdk.CallbackRequest) (sdk.Linkage, error) {
	return sdk.Linkage{}, sdk.Permanent("not linked in this test")
}
func (answering) DiscoverDevices(context.Context, sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	return sdk.DiscoverResult{}, nil
}
func (answering) VerifyWebhook(context.Context, sdk.WebhookRequest) error {
	return sdk.Rejected("no webhooks")
}
func (answering) Webhook(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error) {
	return sdk.WebhookResult{}, sdk.Permanent("no webhooks")
}
func (a answering) PollReadings(context.Context, sdk.PollRequest) (sdk.PollResult, error) {
	return a.res, nil
}
