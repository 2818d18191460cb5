package sdk_test

import (
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
