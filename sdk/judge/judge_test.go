package judge_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/judge"
)

var received = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func TestReading(t *testing.T) {
	for _, c := range []struct {
		name   string
		r      sdk.Reading
		reason string
	}{
		{"kept", sdk.Reading{Metric: "ph", Value: 7.4}, ""},
		{"unknown metric", sdk.Reading{Metric: "fc", Value: 1}, judge.UnknownMetric},
		{"NaN", sdk.Reading{Metric: "ph", Value: math.NaN()}, judge.NonFinite},
		{"absurd", sdk.Reading{Metric: "ph", Value: 15}, judge.AbsurdValue},
		{"bad unit", sdk.Reading{Metric: "temperature", Value: 20, Unit: "furlongs"}, judge.BadUnit},
		{"future", sdk.Reading{Metric: "ph", Value: 7, RecordedAt: received.Add(time.Hour)}, judge.TooFarFuture},
		{"old", sdk.Reading{Metric: "ph", Value: 7, RecordedAt: received.AddDate(0, -2, 0)}, judge.TooOld},
		{"zero time given", sdk.Reading{Metric: "ph", Value: 7, Timed: true}, judge.TooOld},
		{"bound above", sdk.Reading{Metric: "free_chlorine", Value: 10, Qualifier: sdk.QualifierAbove}, ""},
		{"bound below", sdk.Reading{Metric: "free_chlorine", Value: 0.1, Qualifier: sdk.QualifierBelow}, ""},
		{"bad qualifier", sdk.Reading{Metric: "free_chlorine", Value: 10, Qualifier: ">"}, judge.BadQualifier},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, reason := judge.Reading(c.r, received, judge.DefaultWindow)
			if reason != c.reason {
				t.Fatalf("reason %q, want %q", reason, c.reason)
			}
			if reason == "" && k.Qualifier != c.r.Qualifier {
				t.Fatalf("qualifier %q, want %q", k.Qualifier, c.r.Qualifier)
			}
			if reason == "" && !k.At.Equal(received) {
				t.Fatalf("an untimed reading is stored at %s, want the receive time", k.At)
			}
		})
	}
	k, _ := judge.Reading(sdk.Reading{Metric: "free_chlorine", Value: 20, Quality: sdk.QualityGood}, received, judge.DefaultWindow)
	if k.Quality != sdk.QualitySuspect {
		t.Errorf("an unhealthy value keeps quality %q, want suspect", k.Quality)
	}
}

func TestSession(t *testing.T) {
	s := sdk.TestSession{ProviderDeviceID: "p", Method: "photometer", Results: []sdk.TestResult{
		{Metric: "free_chlorine", Value: 10, Qualifier: sdk.QualifierAbove}, {Metric: "fc", Value: 1}, {Metric: "free_chlorine", Value: 2},
		{Metric: "ph", Value: 7, Qualifier: "approximately"},
	}}
	k, dropped, reason := judge.Session(s, received, judge.DefaultWindow)
	if reason != "" || len(k.Results) != 1 || k.Method != "photometer" || !k.Untimed || k.Results[0].Qualifier != sdk.QualifierAbove {
		t.Fatalf("session %+v, reason %q", k, reason)
	}
	if len(dropped) != 3 || dropped[0].Reason != judge.UnknownMetric || dropped[1].Reason != judge.DuplicateMetric || dropped[2].Reason != judge.BadQualifier {
		t.Fatalf("dropped %+v", dropped)
	}
	_, _, reason = judge.Session(sdk.TestSession{Results: []sdk.TestResult{{Metric: "fc", Value: 1}}}, received, judge.DefaultWindow)
	if reason != judge.NoResults {
		t.Fatalf("a session with no kept result: %q", reason)
	}
	if judge.Method("spectro") != "other" {
		t.Errorf("an unknown method is not stored as other")
	}
}

func TestCapsCheck(t *testing.T) {
	many := make([]sdk.Reading, 10001)
	for _, c := range []struct {
		name, cap string
		a         judge.Answer
	}{
		{"within", "", judge.Answer{Readings: []sdk.Reading{{ProviderDeviceID: "p", Metric: "ph"}}}},
		{"readings", "readings", judge.Answer{Readings: many}},
		{"session results", "readings", judge.Answer{TestSessions: []sdk.TestSession{{Results: make([]sdk.TestResult, 10000)}}}},
		{"device id", "device_id", judge.Answer{Readings: []sdk.Reading{{ProviderDeviceID: strings.Repeat("x", 257)}}}},
		{"delivery id", "delivery_id", judge.Answer{DeliveryID: strings.Repeat("x", 257)}},
		{"account id", "account_id", judge.Answer{ProviderAccountID: strings.Repeat("x", 257)}},
		{"notes", "notes", judge.Answer{TestSessions: []sdk.TestSession{{Notes: strings.Repeat("x", 2001)}}}},
		{"raw payload", "raw_payload", judge.Answer{Readings: []sdk.Reading{{RawPayload: make([]byte, 64<<10+1)}}}},
		{"utf8 device id", judge.CapUTF8, judge.Answer{Readings: []sdk.Reading{{ProviderDeviceID: "p\xff"}}}},
		{"utf8 session metric", judge.CapUTF8, judge.Answer{TestSessions: []sdk.TestSession{{Results: []sdk.TestResult{{Metric: "\xc3"}}}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := judge.Caps{}.Check(c.a)
			if judge.CapOf(err) != c.cap || (c.cap == "") != (err == nil) {
				t.Fatalf("cap %q (%v), want %q", judge.CapOf(err), err, c.cap)
			}
			if err != nil && !sdk.IsKind(err, sdk.KindPermanent) {
				t.Fatalf("a refusal is %s, want permanent", sdk.KindOf(err))
			}
		})
	}
	// a cap an operator lowered is the one applied
	if err := (judge.Caps{MaxReadingsPerCall: 1}).Check(judge.Answer{Readings: make([]sdk.Reading, 2)}); judge.CapOf(err) != "readings" {
		t.Fatalf("lowered cap: %v", err)
	}
}

func TestCapsCheckDevices(t *testing.T) {
	for _, c := range []struct {
		name, cap string
		ds        []sdk.Device
	}{
		{"within", "", []sdk.Device{{ProviderDeviceID: strings.Repeat("i", 256), Name: strings.Repeat("n", 1024), Metadata: map[string]string{"fw": "1"}}}},
		{"devices", "devices", make([]sdk.Device, 10001)},
		{"device id", "device_id", []sdk.Device{{ProviderDeviceID: strings.Repeat("i", 5000)}}},
		{"name", "name", []sdk.Device{{ProviderDeviceID: "d", Name: strings.Repeat("n", 500000)}}},
		{"model", "model", []sdk.Device{{ProviderDeviceID: "d", Model: strings.Repeat("m", 1025)}}},
		{"metadata", "metadata", []sdk.Device{{ProviderDeviceID: "d", Metadata: map[string]string{"k": strings.Repeat("v", 64<<10)}}}},
		{"utf8 name", judge.CapUTF8, []sdk.Device{{ProviderDeviceID: "d", Name: "pool\xff"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := judge.Caps{}.CheckDevices(c.ds)
			if judge.CapOf(err) != c.cap || (c.cap == "") != (err == nil) {
				t.Fatalf("cap %q (%v), want %q", judge.CapOf(err), err, c.cap)
			}
			if err != nil && !sdk.IsKind(err, sdk.KindPermanent) {
				t.Fatalf("a refusal is %s, want permanent", sdk.KindOf(err))
			}
		})
	}
}

func TestCapsCheckLinkage(t *testing.T) {
	for _, c := range []struct {
		name, cap string
		l         sdk.Linkage
	}{
		{"within", "", sdk.Linkage{ExternalAccountID: strings.Repeat("i", 256), Credentials: sdk.Credentials{"access_token": strings.Repeat("t", 60<<10)}}},
		{"long id", "account_id", sdk.Linkage{ExternalAccountID: strings.Repeat("i", 257)}},
		{"NUL in id", "account_id", sdk.Linkage{ExternalAccountID: "acct\x00-42"}},
		{"escape in id", "account_id", sdk.Linkage{ExternalAccountID: "acct\x1b[2J"}},
		{"utf8 id", judge.CapUTF8, sdk.Linkage{ExternalAccountID: "acct\xff"}},
		{"alternates within", "", sdk.Linkage{ExternalAccountID: "pool:1", AlternateAccountIDs: []string{strings.Repeat("i", 256), "user:1"}}},
		{"long alternate", "account_id", sdk.Linkage{ExternalAccountID: "pool:1", AlternateAccountIDs: []string{"user:1", strings.Repeat("i", 257)}}},
		{"escape in alternate", "account_id", sdk.Linkage{ExternalAccountID: "pool:1", AlternateAccountIDs: []string{"user\x1b[2J"}}},
		{"empty alternate", "account_id", sdk.Linkage{ExternalAccountID: "pool:1", AlternateAccountIDs: []string{""}}},
		{"too many alternates", "account_id", sdk.Linkage{ExternalAccountID: "pool:1", AlternateAccountIDs: make([]string, sdk.MaxAlternateAccountIDs+1)}},
		{"credentials", "credentials", sdk.Linkage{ExternalAccountID: "a", Credentials: sdk.Credentials{"access_token": strings.Repeat("t", 64<<10)}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := judge.Caps{}.CheckLinkage(c.l)
			if judge.CapOf(err) != c.cap || (c.cap == "") != (err == nil) {
				t.Fatalf("cap %q (%v), want %q", judge.CapOf(err), err, c.cap)
			}
			if err != nil && !sdk.IsKind(err, sdk.KindPermanent) {
				t.Fatalf("a refusal is %s, want permanent", sdk.KindOf(err))
			}
		})
	}
}

// What a poll, a discovery or a command hands back besides its readings is stored too:
// refreshed credentials (in place of the account's, sent on every later call) and a
// poll's cursor (with the account's poll state, handed back on every poll). An upstream
// answering a megabyte access token, or a plugin a megabyte cursor, stored it as it was.
func TestCapsCheckCredentialsAndCursor(t *testing.T) {
	for _, c := range []struct {
		name, cap string
		err       error
	}{
		{"credentials within", "", judge.Caps{}.CheckCredentials(sdk.Credentials{"access_token": strings.Repeat("t", 60<<10)})},
		{"credentials over", "credentials", judge.Caps{}.CheckCredentials(sdk.Credentials{"access_token": strings.Repeat("t", 64<<10)})},
		{"credentials over a lower cap", "credentials", judge.Caps{MaxRawPayloadBytes: 100}.CheckCredentials(sdk.Credentials{"token": strings.Repeat("t", 96)})},
		{"cursor within", "", judge.Caps{}.CheckCursor(strings.Repeat("c", 64<<10))},
		{"cursor over", "cursor", judge.Caps{}.CheckCursor(strings.Repeat("c", 64<<10+1))},
		{"NUL in cursor", "cursor", judge.Caps{}.CheckCursor("page\x002")},
	} {
		t.Run(c.name, func(t *testing.T) {
			if judge.CapOf(c.err) != c.cap || (c.cap == "") != (c.err == nil) {
				t.Fatalf("cap %q (%v), want %q", judge.CapOf(c.err), c.err, c.cap)
			}
			if c.err != nil && !sdk.IsKind(c.err, sdk.KindPermanent) {
				t.Fatalf("a refusal is %s, want permanent", sdk.KindOf(c.err))
			}
		})
	}
}

// TestCheckPollOrder: of a poll's answer that breaks several caps, CheckPoll names the
// refreshed credentials first, then the parts the host stores, then the cursor: the order
// the host refuses in and the kit reports (host/pluginmgr's TestPollJudgedOnce runs both).
func TestCheckPollOrder(t *testing.T) {
	c := judge.Caps{MaxReadingsPerCall: 2, MaxRawPayloadBytes: 64}
	creds := sdk.Credentials{"access_token": strings.Repeat("t", 65)}
	readings := make([]sdk.Reading, 3)
	cursor := strings.Repeat("c", 65)
	for _, tc := range []struct {
		name string
		res  sdk.PollResult
		cap  string
	}{
		{"within", sdk.PollResult{Readings: readings[:2], NextCursor: "c", RefreshedCredentials: sdk.Credentials{"access_token": "t"}}, ""},
		{"credentials", sdk.PollResult{RefreshedCredentials: creds}, judge.CapCredentials},
		{"readings", sdk.PollResult{Readings: readings}, "readings"},
		{"cursor", sdk.PollResult{NextCursor: cursor}, "cursor"},
		{"all three", sdk.PollResult{RefreshedCredentials: creds, Readings: readings, NextCursor: cursor}, judge.CapCredentials},
		{"readings and cursor", sdk.PollResult{Readings: readings, NextCursor: cursor}, "readings"},
		{"command updates and cursor", sdk.PollResult{CommandUpdates: make([]sdk.CommandUpdate, judge.MaxCommandUpdatesPerCall+1), NextCursor: "a\x00b"}, "command_updates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.CheckPoll(tc.res)
			if judge.CapOf(err) != tc.cap || (tc.cap == "") != (err == nil) {
				t.Fatalf("CheckPoll = cap %q (%v), want %q", judge.CapOf(err), err, tc.cap)
			}
			v := judge.JudgePoll(c, judge.DefaultWindow, received, tc.res)
			if v.Refused != nil && v.Refused.Error() != err.Error() || (v.Refused == nil) != (err == nil) {
				t.Fatalf("JudgePoll refused %v, CheckPoll %v", v.Refused, err)
			}
		})
	}
}

func TestJudgeProblems(t *testing.T) {
	a := judge.Answer{
		Readings: []sdk.Reading{{ProviderDeviceID: "p", Metric: "ph", Value: 7.2}, {ProviderDeviceID: "p", Metric: "pH", Value: 7.2},
			{ProviderDeviceID: "p", Metric: "temperature", Value: 212, Unit: "F"}, {ProviderDeviceID: "p", Metric: "ph", Value: 42},
			{ProviderDeviceID: "p", Metric: "signal", Value: -70, Unit: "dBm"}, {ProviderDeviceID: "p", Metric: "orp", Value: math.NaN()},
			{ProviderDeviceID: "p", Metric: "ph", Value: 7, RecordedAt: received.AddDate(-1, 0, 0), Timed: true}},
		TestSessions: []sdk.TestSession{{ProviderDeviceID: "p", Results: []sdk.TestResult{{Metric: "fc", Value: 1}}}},
	}
	got := judge.Judge(judge.Caps{}, judge.DefaultWindow, received, a).Problems(a)
	// Each drop says what the value was and what the host wanted, as plugins test prints it.
	want := []string{
		`reading 1 (pH): dropped as unknown_metric: metric names are exact, lowercase: "ph"`,
		"reading 2 (temperature): dropped as absurd_value: 212 F = 100 C is outside temperature's range -5…50 C",
		"reading 3 (ph): dropped as absurd_value: 42 pH is outside ph's range 0…14 pH",
		`reading 4 (signal): dropped as bad_unit: signal does not take unit "dBm" (its unit is %; PLUGINS.md lists the spellings each metric accepts)`,
		"reading 5 (orp): dropped as non_finite: the value is NaN",
		"reading 6 (ph): dropped as too_old: measured at " + received.AddDate(-1, 0, 0).UTC().Format(time.RFC3339) + ", judged against the delivery's receipt time (received_at)",
		"test session 0 result 0 (fc): dropped as unknown_metric: not a metric of sdk/metric; map the provider's name to one of its constants (PLUGINS.md, Metric vocabulary)",
		"test session 0: dropped as no_results",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	a = judge.Answer{Readings: make([]sdk.Reading, 200000)}
	got = judge.Judge(judge.Caps{}, judge.DefaultWindow, received, a).Problems(a)
	if len(got) != 1 || got[0] != "refused (cap readings): plugin answer refused: 200000 readings exceed plugins.max_readings_per_call (10000)" {
		t.Fatalf("problems %q", got)
	}
}

// TestJudgeProblemsTimeReference: a reading outside the window is explained against the
// time the host judged it by on its path: a delivery's receipt time, or the poll's time.
func TestJudgeProblemsTimeReference(t *testing.T) {
	old, ahead := received.AddDate(0, -2, 0), received.Add(time.Hour)
	readings := []sdk.Reading{{ProviderDeviceID: "p", Metric: "ph", Value: 7, RecordedAt: old, Timed: true},
		{ProviderDeviceID: "p", Metric: "ph", Value: 7, RecordedAt: ahead, Timed: true}}
	for _, tc := range []struct {
		name   string
		polled bool
		ref    string
	}{
		{"webhook", false, "the delivery's receipt time (received_at)"},
		{"poll", true, "the poll's time (when its answer came in)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := judge.Answer{Readings: readings, Polled: tc.polled}
			got := judge.Judge(judge.Caps{}, judge.DefaultWindow, received, a).Problems(a)
			want := []string{
				"reading 0 (ph): dropped as too_old: measured at " + old.UTC().Format(time.RFC3339) + ", judged against " + tc.ref,
				"reading 1 (ph): dropped as too_far_future: measured at " + ahead.UTC().Format(time.RFC3339) + ", judged against " + tc.ref,
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestNearMetric(t *testing.T) {
	for name, want := range map[string]string{"pH": "ph", " Free Chlorine ": "free_chlorine", "free-chlorine": "free_chlorine", "ORP": "orp", "turbidity": "", "ph": "", "fc": ""} {
		got, ok := judge.NearMetric(name)
		if got != want || ok != (want != "") {
			t.Errorf("NearMetric(%q) = %q %v, want %q", name, got, ok, want)
		}
	}
}
