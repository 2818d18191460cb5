package sdk_test

import (
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk"
)

func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{
		"p1":                                   true,
		"1caa59d4-afe2-4383-b093-f127ec4b0432": true,
		"Bassin été":                           true,
		"":                                     true, // empty ids are each call's own rule
		"\xff":                                 false,
		"a\xffb":                               false,
		"\uFFFD":                               false,
		"a\nb":                                 false,
		"a\x00":                                false,
		"a\u0085":                              false, // C1 control
	} {
		if err := sdk.CheckID("device id", id); (err == nil) != ok {
			t.Errorf("CheckID(%q) = %v, want ok %v", id, err, ok)
		} else if err != nil && sdk.KindOf(err) != sdk.KindPermanent {
			t.Errorf("CheckID(%q) kind %v", id, sdk.KindOf(err))
		}
	}
	res := sdk.WebhookResult{Readings: []sdk.Reading{{ProviderDeviceID: "ok"}, {ProviderDeviceID: "\uFFFD"}}}
	if err := res.Check(); err == nil {
		t.Error("a webhook result with a U+FFFD device id passed")
	}
	// A run of readings of one device is checked once: the first bad one after it is not
	// missed, whether the run was good or bad.
	for _, rs := range [][]string{{"a", "a", "a\n"}, {"", "", "\xff"}, {"a\n", "a\n"}, {"\xff", "a", "a"}} {
		res := sdk.WebhookResult{}
		for _, id := range rs {
			res.Readings = append(res.Readings, sdk.Reading{ProviderDeviceID: id})
		}
		if err := res.Check(); err == nil {
			t.Errorf("readings of devices %q passed", rs)
		}
	}
	if err := (sdk.WebhookResult{Readings: []sdk.Reading{{ProviderDeviceID: "a"}, {ProviderDeviceID: "a"}, {ProviderDeviceID: "b"}}}).Check(); err != nil {
		t.Errorf("good readings refused: %v", err)
	}
	if err := (sdk.PollResult{CommandUpdates: []sdk.CommandUpdate{{CommandID: "c", ProviderRef: "r\x01"}}}).Check(); err == nil {
		t.Error("a command update with a control character passed")
	}
}

// TestCommandUpdateSkipped: the host applies an update that names its command with
// status delivered, succeeded or failed, and skips any other; the kit fails a plugin
// for one it would skip. Both ask CommandUpdate.Skipped, so they cannot disagree.
func TestCommandUpdateSkipped(t *testing.T) {
	for _, tc := range []struct {
		u    sdk.CommandUpdate
		want string // "" applied
	}{
		{sdk.CommandUpdate{CommandID: "c", Status: sdk.CommandDelivered}, ""},
		{sdk.CommandUpdate{ProviderRef: "r", Status: sdk.CommandSucceeded}, ""},
		{sdk.CommandUpdate{CommandID: "c", Status: sdk.CommandFailed, Reason: "jammed"}, ""},
		{sdk.CommandUpdate{CommandID: "c", Status: sdk.CommandSent}, `status "sent"`},
		{sdk.CommandUpdate{CommandID: "c"}, `status ""`},
		{sdk.CommandUpdate{CommandID: "c", Status: "done"}, `status "done"`},
		{sdk.CommandUpdate{Status: sdk.CommandSucceeded}, "names no command"},
	} {
		err := tc.u.Skipped()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Skipped() = %v, want %q", tc.u, err, tc.want)
		}
	}
}
