package sdktest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/judge"
	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/sdktest/testdata/broken"
)

func fixtures() sdktest.Fixtures {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	body := []byte(`{"device":"pool-1","ph":7.21}`)
	tampered := []byte(`{"device":"pool-1","ph":9.99}`)
	return sdktest.Fixtures{
		Valid:       []sdktest.Webhook{{Name: "ph", Headers: broken.Sign(broken.Secret, at, body), Body: body, ReceivedAt: at.Add(time.Second)}},
		Tampered:    []sdktest.Webhook{{Name: "ph", Headers: broken.Sign(broken.Secret, at, body), Body: tampered, ReceivedAt: at}},
		WrongSecret: []sdktest.Webhook{{Name: "ph", Headers: broken.Sign("whsec_c2RrdGVzdC1hY2NvdW50LXNlY3JldC0wMDA=", at, body), Body: body, ReceivedAt: at}},
		Stale:       []sdktest.Webhook{{Name: "ph", Headers: broken.Sign(broken.Secret, at, body), Body: body, ReceivedAt: at.Add(time.Hour)}},
	}
}

// TestRunGood: a correct adapter passes every check (through Run itself).
func TestRunGood(t *testing.T) {
	sdktest.Run(t, broken.Good{}, fixtures())
}

// failed returns the failing checks' names and errors.
func failed(rs []sdktest.Result) map[string]string {
	out := map[string]string{}
	for _, r := range rs {
		if r.Err != nil {
			out[r.Check] = r.Err.Error()
		}
	}
	return out
}

// wantFailure asserts that a check whose name starts with prefix failed with a message
// containing msg.
func wantFailure(t *testing.T, rs []sdktest.Result, prefix, msg string) {
	t.Helper()
	f := failed(rs)
	for name, err := range f {
		if strings.HasPrefix(name, prefix) && strings.Contains(err, msg) {
			return
		}
	}
	t.Errorf("no failing check %s… with %q; failures: %v", prefix, msg, f)
}

func TestChecksCatchBrokenAdapters(t *testing.T) {
	fx := fixtures()
	t.Run("accepts unsigned", func(t *testing.T) {
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.AcceptsUnsigned{}), sdktest.Fixtures{})
		wantFailure(t, rs, "webhook/unsigned-rejected", "passed verification")
		wantFailure(t, rs, "webhook/garbage-signature-rejected", "passed verification")
		// and with fixtures, tampered and wrong-secret deliveries get through too
		rs = sdktest.Checks(t.Context(), sdktest.Direct(broken.AcceptsUnsigned{}), fx)
		wantFailure(t, rs, "webhook/tampered-rejected", "accepted; want rejected")
		wantFailure(t, rs, "webhook/wrong_secret-rejected", "accepted")
	})
	t.Run(`emits "pH"`, func(t *testing.T) {
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.EmitsPH()), fx)
		wantFailure(t, rs, "webhook/valid-accepted/ph", `reading 0 (pH): dropped as unknown_metric: metric names are exact, lowercase: "ph"`)
	})
	// PLUGINS.md asks plugins to pass a provider type they have no metric for through
	// unchanged (the host drops and counts it): a valid delivery carrying one passes, and
	// says what the host will drop.
	t.Run("passes an unknown provider type through", func(t *testing.T) {
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.Good{Metric: "turbidity"}), fx)
		for _, r := range rs {
			if strings.HasPrefix(r.Check, "webhook/valid-accepted/") && (r.Err != nil || !strings.Contains(r.Detail, "unknown_metric the provider types passed through (turbidity)")) {
				t.Errorf("%s: %v %q", r.Check, r.Err, r.Detail)
			}
		}
	})
	// Beside a real failure, a type passed through is not listed as one to fix.
	t.Run("passes a type through beside a misspelt metric", func(t *testing.T) {
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.EmitsPHAndTurbidity{}), fx)
		wantFailure(t, rs, "webhook/valid-accepted/ph", `the host would not keep all of it:
reading 0 (pH): dropped as unknown_metric: metric names are exact, lowercase: "ph"
(not a problem: the provider types passed through unmapped (turbidity), which the host drops and counts as unknown_metric)`)
	})
	// The kit judges as the host does (sdk/judge): what the host would drop or refuse
	// fails here, with the host's reason or the cap's name.
	t.Run("test session with an unknown metric", func(t *testing.T) {
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.SessionUnknownMetric()), fx)
		wantFailure(t, rs, "webhook/valid-accepted/ph", "test session 0 result 0 (fc): dropped as unknown_metric")
		wantFailure(t, rs, "webhook/valid-accepted/ph", "test session 0: dropped as no_results")
	})
	t.Run("200,000 readings", func(t *testing.T) {
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.Floods()), fx)
		wantFailure(t, rs, "webhook/valid-accepted/ph", "refused (cap readings): plugin answer refused: 200000 readings exceed plugins.max_readings_per_call (10000)")
	})
	t.Run("checks its declared signature header's presence only", func(t *testing.T) {
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.ChecksPresenceOnly{}), fx)
		wantFailure(t, rs, "webhook/garbage-signature-rejected", "passed verification")
		wantFailure(t, rs, "webhook/account-garbage-rejected", "passed verification")
	})
	t.Run("bad declarations", func(t *testing.T) {
		fx := fixtures()
		fx.Configure = &sdk.ConfigureRequest{Settings: map[string]string{"regoin": "eu", "api_token": "t"}}
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.BadDeclarations{}), fx)
		for _, msg := range []string{
			`setting "page_size": default "fifty" is not an integer`,
			`setting "api_token" is a secret with a default`,
			`setting key "region" is declared twice`,
			`setting key "BaseURL" is not lower_snake_case`,
			`the host would refuse the fixture's configuration as a config block: `,
			`settings key "regoin" is not one the plugin declares; did you mean "region"?`,
			`"api_token" is a secret: move it to secrets {}`,
		} {
			wantFailure(t, rs, "declarations", msg)
		}
	})
	// One judge: the fixture's configuration is checked by the code the host checks a
	// config block with (sdk.Description.CheckConfig), so a value that does not parse or a
	// required secret left out fails here as it would fail the plugin's start.
	t.Run("configuration the host would refuse", func(t *testing.T) {
		fx := fixtures()
		fx.Configure = &sdk.ConfigureRequest{Settings: map[string]string{"page_size": "fifty"}}
		d, _ := broken.DeclaresSettings{}.Describe(t.Context())
		host := d.CheckConfig(fx.Configure.Settings, fx.Configure.Secrets)
		if host == nil {
			t.Fatal("CheckConfig accepts the configuration")
		}
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.DeclaresSettings{}), fx)
		for _, msg := range append(strings.Split(host.Error(), "\n"), `settings "page_size": "fifty" is not an integer`, `plugin requires secret "api_token", missing from config`) {
			wantFailure(t, rs, "declarations", msg)
		}
		fx.Configure = &sdk.ConfigureRequest{Settings: map[string]string{"page_size": "20"}, Secrets: map[string]string{"api_token": "t"}}
		for _, r := range sdktest.Checks(t.Context(), sdktest.Direct(broken.DeclaresSettings{}), fx) {
			if r.Check == "declarations" && r.Err != nil {
				t.Errorf("declarations: %v", r.Err)
			}
		}
	})
	t.Run("description the host would refuse", func(t *testing.T) {
		for _, a := range []sdk.Adapter{broken.ProtocolTwo{}, broken.UnknownConnect{}} {
			d, _ := a.Describe(t.Context())
			host := d.Check()
			if host == nil {
				t.Fatalf("%T: Check accepts %+v", a, d)
			}
			wantFailure(t, sdktest.Checks(t.Context(), sdktest.Direct(a), fixtures()), "describe", host.Error())
		}
	})
	t.Run("description over the judge's caps", func(t *testing.T) {
		d, _ := broken.HugeDescription{}.Describe(t.Context())
		host := judge.CheckDescription(d) // what the host refuses at start (host/pluginmgr)
		if host == nil {
			t.Fatalf("CheckDescription accepts %d bytes of help", len(d.ConnectInputs[0].Help))
		}
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.HugeDescription{}), fx)
		wantFailure(t, rs, "describe", host.Error())
		wantFailure(t, rs, "describe", `connect input "api_key" help is 100000 bytes, over 512 (judge.MaxHelpBytes)`)
	})
	t.Run("claims to poll without a Poller", func(t *testing.T) {
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.ClaimsPoll{}), fx)
		wantFailure(t, rs, "describe", "capabilities.poll is set but the adapter does not implement sdk.Poller")
		// Served over gRPC, as the host starts it: Describe is refused the same way.
		if _, err := sdktest.Connect(t, broken.ClaimsPoll{}).Describe(t.Context()); err == nil ||
			!strings.Contains(err.Error(), "does not implement sdk.Poller") || !sdk.IsKind(err, sdk.KindPermanent) {
			t.Errorf("Describe over gRPC: %v; want a permanent error naming sdk.Poller", err)
		}
	})
	t.Run("command updates the host ignores", func(t *testing.T) {
		for _, tc := range []struct {
			u    sdk.CommandUpdate
			want string
		}{
			{sdk.CommandUpdate{Status: sdk.CommandSucceeded}, "command update 0: names no command"},
			{sdk.CommandUpdate{ProviderRef: "r-1", Status: "done"}, `command update 0: status "done" is not delivered, succeeded or failed; the host ignores it`},
			{sdk.CommandUpdate{CommandID: "cmd-1", Status: sdk.CommandSent}, `status "sent" is not delivered, succeeded or failed`},
		} {
			rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.StrayCommandUpdates{Update: tc.u}), fx)
			wantFailure(t, rs, "webhook/valid-accepted/ph", tc.want)
		}
		// One the host applies passes; on the provider-level URL (the fixture "ph") the
		// check says the host applies none from there.
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.StrayCommandUpdates{Update: sdk.CommandUpdate{ProviderRef: "r-1", Status: sdk.CommandFailed}}), fx)
		for _, r := range rs {
			if r.Check == "webhook/valid-accepted/ph" && (r.Err != nil ||
				!strings.Contains(r.Detail, "the host applies none of its 1 command update(s): a provider-level delivery authenticates no account")) {
				t.Errorf("an update the host applies: %v %q", r.Err, r.Detail)
			}
		}
	})
	// Over the wire a plugin in another language may declare write capability and
	// answer SendCommand UNIMPLEMENTED: the host fails every command (nothing sent), so
	// the kit says that, not that the outcome is unknown.
	t.Run("declares write, answers SendCommand unsupported", func(t *testing.T) {
		f := fx
		f.Commands = []sdktest.CommandCase{{Name: "accepted", Want: "sent", Request: sdk.CommandRequest{
			ProviderDeviceID: "pool-1", Command: "pump.set", Params: map[string]any{"on": true}, CommandID: "c-1"}}}
		rs := sdktest.Checks(t.Context(), unimplementedCommands{sdktest.Direct(broken.Good{})}, f)
		wantFailure(t, rs, "commands/accepted", "the plugin declares write capability but does not serve SendCommand, so the host fails every command it is sent")
	})
	t.Run("claims to write without a Commander", func(t *testing.T) {
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.ClaimsWrite{}), fx)
		wantFailure(t, rs, "describe", "capabilities.write is set but the adapter does not implement sdk.Commander")
		// Served over gRPC, as the host starts it: Describe is refused the same way, so
		// the plugin does not start (rather than failing every command it is sent).
		if _, err := sdktest.Connect(t, broken.ClaimsWrite{}).Describe(t.Context()); err == nil ||
			!strings.Contains(err.Error(), "does not implement sdk.Commander") || !sdk.IsKind(err, sdk.KindPermanent) {
			t.Errorf("Describe over gRPC: %v; want a permanent error naming sdk.Commander", err)
		}
	})
	t.Run("slower than its deadline", func(t *testing.T) {
		defer setTimings(200*time.Millisecond, 300*time.Millisecond)()
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.SlowWebhook{}), fx)
		wantFailure(t, rs, "webhook/valid-accepted/ph", "did not answer within 200ms (the kit's CallDeadline; a late webhook is kept for retry")
		// The host's words: its client rebuilt the late answer (sdktest.Direct is the host's client).
		wantFailure(t, rs, "webhook/valid-accepted/ph", "never wait on the provider inside a webhook): parse verified webhook: temporary: ingest webhook: context deadline exceeded")
	})
	t.Run("panics on malformed body", func(t *testing.T) {
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.PanicsOnMalformed{}), fx)
		// As over the wire: the plugin side recovers the panic (its value and stack go to
		// the plugin's log, the test's stderr) and the host sees a temporary error.
		wantFailure(t, rs, "webhook/malformed-bodies", "failed as temporary (temporary: plugin panicked in Webhook (see plugin log))")
	})
	t.Run("unclassified parse error", func(t *testing.T) {
		rs := sdktest.Checks(t.Context(), sdktest.Direct(broken.TemporaryOnMalformed{}), fx)
		wantFailure(t, rs, "webhook/malformed-bodies", "failed as temporary")
	})
	t.Run("hangs past deadline", func(t *testing.T) {
		// Short timings so the test is quick; an honest adapter answers in microseconds,
		// and the hang is unbounded, so no machine is slow enough to blur the two.
		defer setTimings(200*time.Millisecond, 300*time.Millisecond)()
		a := broken.HangsPastDeadline{Release: make(chan struct{})}
		defer close(a.Release)
		rs := sdktest.Checks(t.Context(), sdktest.Direct(a), fx)
		wantFailure(t, rs, "webhook/malformed-bodies", "hangs past its deadline")
		// every later call is reported as not run, not waited for again
		wantFailure(t, rs, "webhook/randomized-bodies", "not run: an earlier call hung")
	})
}

func setTimings(deadline, grace time.Duration) func() {
	d, g := sdktest.CallDeadline, sdktest.HangGrace
	sdktest.CallDeadline, sdktest.HangGrace = deadline, grace
	return func() { sdktest.CallDeadline, sdktest.HangGrace = d, g }
}

// TestFixturesRoundTrip: fixtures written with WriteWebhook load back with LoadFixtures
// and drive the same checks (the directory layout other languages' plugins are tested
// with).
func TestFixturesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	fx := fixtures()
	for sub, ws := range map[string][]sdktest.Webhook{"valid": fx.Valid, "tampered": fx.Tampered, "wrong_secret": fx.WrongSecret, "stale": fx.Stale} {
		for _, w := range ws {
			if err := sdktest.WriteWebhook(filepath.Join(dir, "webhooks", sub, w.Name+".json"), w); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "configure.json"), []byte(`{"settings":{"a":"b"},"secrets":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "malformed"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "malformed", "half.json"), []byte(`{"device":`), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := sdktest.LoadFixtures(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Valid) != 1 || len(loaded.Tampered) != 1 || len(loaded.WrongSecret) != 1 || len(loaded.Stale) != 1 || len(loaded.Malformed) != 1 {
		t.Fatalf("loaded %+v", loaded)
	}
	if loaded.Configure == nil || loaded.Configure.Settings["a"] != "b" {
		t.Fatalf("configure %+v", loaded.Configure)
	}
	if f := failed(sdktest.Checks(t.Context(), sdktest.Direct(broken.Good{}), loaded)); len(f) != 0 {
		t.Fatalf("failures from loaded fixtures: %v", f)
	}
	// a misspelt key is an error, not a silently weaker test
	if err := os.WriteFile(filepath.Join(dir, "webhooks", "valid", "typo.json"), []byte(`{"header":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sdktest.LoadFixtures(dir); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("typo: %v", err)
	}
}

func TestWantKind(t *testing.T) {
	sdktest.WantKind(t, sdk.Rejected("no"), sdk.KindRejected)
	sdktest.WantKind(t, context.Canceled, sdk.KindTemporary) // unclassified reads as temporary
}

func FuzzBrokenGoodWebhook(f *testing.F) {
	sdktest.FuzzWebhook(f, broken.Good{}, fixtures())
}

// unimplementedCommands is a plugin, as its host-side client sees it, that declares
// write capability and answers SendCommand UNIMPLEMENTED (grpcplugin.Client's
// sdk.Unsupported).
type unimplementedCommands struct{ sdktest.Target }

func (u unimplementedCommands) Describe(ctx context.Context) (sdk.Description, error) {
	d, err := u.Target.Describe(ctx)
	d.Capabilities.Write, d.Capabilities.Commands = true, []string{"pump.set"}
	return d, err
}

func (unimplementedCommands) SendCommand(context.Context, sdk.CommandRequest) (sdk.CommandResult, error) {
	return sdk.CommandResult{}, sdk.Unsupported("send command")
}

// oauthGood is broken.Good describing itself as an oauth2 plugin.
type oauthGood struct{ broken.Good }

func (g oauthGood) Describe(ctx context.Context) (sdk.Description, error) {
	d, err := g.Good.Describe(ctx)
	d.Capabilities.Connect = sdk.ConnectOAuth2
	return d, err
}

// TestRefreshSkipSaysWhetherItMatters: without a Refresh fixture the refresh check is
// skipped; for a plugin whose connect kind is not oauth2 (api_key, webhook_secret,
// none: no expiring tokens as a rule) the SKIP line says it is needed only for
// credentials that expire, so a new api_key plugin's `make conformance` does not leave
// its team hunting for a refresh.json it does not need. An oauth2 plugin's does not say so.
func TestRefreshSkipSaysWhetherItMatters(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    sdk.Adapter
		want bool
	}{{"connect none", broken.Good{}, true}, {"oauth2", oauthGood{}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range sdktest.Checks(t.Context(), sdktest.Direct(tc.a), fixtures()) {
				if r.Check != "refresh-returns-credentials" {
					continue
				}
				if !strings.HasPrefix(r.Skipped, "no Refresh fixture") {
					t.Fatalf("refresh check: skipped %q, err %v", r.Skipped, r.Err)
				}
				if got := strings.Contains(r.Skipped, "needed only if the plugin refreshes credentials that expire"); got != tc.want {
					t.Errorf("SKIP says %q; want the note %v", r.Skipped, tc.want)
				}
				return
			}
			t.Fatal("no refresh-returns-credentials check")
		})
	}
}
