package iopool_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/iopool"
	"github.com/poolhost/poolhost/plugins/iopool/iopooltest"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/metric"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

type client interface {
	sdk.Adapter
	sdk.Poller
}

type transport struct {
	name string
	wrap func(t *testing.T, a *iopool.Adapter) client
}

// transports: every test runs against the adapter directly and through the same gRPC
// shims and conversions the host uses.
var transports = []transport{
	{name: "direct", wrap: func(_ *testing.T, a *iopool.Adapter) client { return a }},
	{name: "wire", wrap: func(t *testing.T, a *iopool.Adapter) client { return sdktest.Connect(t, a) }},
}

func eachTransport(t *testing.T, f func(t *testing.T, tr transport)) {
	t.Helper()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { f(t, tr) })
	}
}

func start(t *testing.T, tr transport) (client, *iopooltest.Server) {
	t.Helper()
	srv := iopooltest.NewServer(t)
	c := tr.wrap(t, iopool.New())
	if err := c.Configure(ctx(t), sdk.ConfigureRequest{Settings: map[string]string{iopool.SettingBaseURL: srv.URL}}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return c, srv
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func account(key string) sdk.Account {
	return sdk.Account{ID: "a1", Credentials: sdk.Credentials{"api_key": key}}
}

func wantKind(t *testing.T, err error, kind sdk.ErrorKind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want kind %v", kind)
	}
	if got := sdk.KindOf(err); got != kind {
		t.Fatalf("error %q has kind %v, want %v", err, got, kind)
	}
}

func TestDescribe(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		c, _ := start(t, tr)
		d, err := c.Describe(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		want := sdk.Capabilities{Connect: sdk.ConnectAPIKey, Poll: true, MinPollInterval: 5 * time.Minute}
		if d.ID != "iopool" || d.ProtocolVersion != sdk.ProtocolVersion || !reflect.DeepEqual(d.Capabilities, want) {
			t.Errorf("description = %+v", d)
		}
	})
}

func TestConnect(t *testing.T) {
	idPattern := regexp.MustCompile(`^key:[0-9a-f]{16}$`)
	eachTransport(t, func(t *testing.T, tr transport) {
		c, srv := start(t, tr)
		res, err := c.Connect(ctx(t), sdk.ConnectRequest{Input: map[string]string{"api_key": "  " + iopooltest.APIKey + "\n"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.AuthorizeURL != "" || res.Linkage == nil {
			t.Fatalf("connect result = %+v, want an immediate linkage", res)
		}
		l := res.Linkage
		if !idPattern.MatchString(l.ExternalAccountID) || strings.Contains(l.ExternalAccountID, iopooltest.APIKey) {
			t.Errorf("external account id = %q", l.ExternalAccountID)
		}
		if l.DisplayName != "iopool: Bazemont" {
			t.Errorf("display name = %q", l.DisplayName)
		}
		if len(l.Credentials) != 1 || l.Credentials["api_key"] != iopooltest.APIKey {
			t.Errorf("credentials keys = %d, want only the trimmed api_key", len(l.Credentials))
		}

		// Stable for a key, different for another.
		again, err := c.Connect(ctx(t), sdk.ConnectRequest{Input: map[string]string{"api_key": iopooltest.APIKey}})
		if err != nil || again.Linkage.ExternalAccountID != l.ExternalAccountID {
			t.Errorf("reconnecting the same key gave %+v, %v", again.Linkage, err)
		}
		srv.AddKey("second-key")
		other, err := c.Connect(ctx(t), sdk.ConnectRequest{Input: map[string]string{"api_key": "second-key"}})
		if err != nil || other.Linkage.ExternalAccountID == l.ExternalAccountID {
			t.Errorf("another key gave %+v, %v", other.Linkage, err)
		}
		if got := srv.Requests(); len(got) != 3 || got[0] != "/v1/pools" {
			t.Errorf("requests = %v, want one GET /v1/pools per connect", got)
		}
	})
}

func TestConnectFailures(t *testing.T) {
	tests := []struct {
		name     string
		key      string
		setup    func(*iopooltest.Server)
		kind     sdk.ErrorKind
		contains string
	}{
		{"empty key", "  ", nil, sdk.KindInvalidInput, "api_key"},
		{"unknown key 401", "nope", nil, sdk.KindInvalidInput, "api key rejected"},
		{"unknown key 403", "nope", func(s *iopooltest.Server) { s.SetRejectStatus(http.StatusForbidden) }, sdk.KindInvalidInput, "api key rejected"},
		{"upstream down", iopooltest.APIKey, func(s *iopooltest.Server) { s.SetStatus(http.StatusBadGateway) }, sdk.KindTemporary, "502"},
		{"quota", iopooltest.APIKey, func(s *iopooltest.Server) { s.SetStatus(http.StatusTooManyRequests) }, sdk.KindTemporary, "quota"},
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, srv := start(t, tr)
				if tt.setup != nil {
					tt.setup(srv)
				}
				_, err := c.Connect(ctx(t), sdk.ConnectRequest{Input: map[string]string{"api_key": tt.key}})
				wantKind(t, err, tt.kind)
				if !strings.Contains(err.Error(), tt.contains) {
					t.Errorf("error %q does not mention %q", err, tt.contains)
				}
				if strings.Contains(err.Error(), "nope") {
					t.Errorf("error %q leaks the key", err)
				}
			})
		}
	})
}

func TestCallbackUnsupported(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		c, _ := start(t, tr)
		_, err := c.Callback(ctx(t), sdk.CallbackRequest{Code: "x", State: "y"})
		wantKind(t, err, sdk.KindUnsupported)
	})
}

func TestConnectDiscoverPoll(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		c, srv := start(t, tr)
		res, err := c.Connect(ctx(t), sdk.ConnectRequest{Input: map[string]string{"api_key": iopooltest.APIKey}})
		if err != nil {
			t.Fatal(err)
		}
		acct := sdk.Account{ID: "a1", ExternalAccountID: res.Linkage.ExternalAccountID, Credentials: res.Linkage.Credentials}

		disc, err := c.DiscoverDevices(ctx(t), sdk.DiscoverRequest{Account: acct})
		if err != nil {
			t.Fatal(err)
		}
		if len(disc.Devices) != 1 {
			t.Fatalf("devices = %+v", disc.Devices)
		}
		d := disc.Devices[0]
		if d.ProviderDeviceID != iopooltest.SamplePoolID || d.Name != "Bazemont" || d.Model != "EcO" ||
			d.Metadata["eco_id"] != "0C6rSuWJ" || d.Metadata["pool_mode"] != "STANDARD" {
			t.Errorf("device = %+v", d)
		}
		if disc.RefreshedCredentials != nil {
			t.Errorf("an api key is never refreshed")
		}

		poll, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2025, 5, 3, 18, 33, 0, 0, time.UTC)
		want := []sdk.Reading{
			{Metric: metric.Temperature, Value: 18.80351854423907, Unit: metric.UnitCelsius},
			{Metric: metric.PH, Value: 9.323630136986301, Unit: metric.UnitPH},
			{Metric: metric.ORP, Value: 156, Unit: metric.UnitMillivolt},
		}
		if len(poll.Readings) != len(want) {
			t.Fatalf("readings = %+v", poll.Readings)
		}
		for i, w := range want {
			g := poll.Readings[i]
			if g.ProviderDeviceID != d.ProviderDeviceID || g.Metric != w.Metric || g.Value != w.Value || g.Unit != w.Unit ||
				!g.RecordedAt.Equal(at) || g.Quality != sdk.QualityGood || !strings.Contains(string(g.RawPayload), `"0C6rSuWJ"`) {
				t.Errorf("reading %d = %+v, want %+v at %v", i, g, w, at)
			}
		}
		if poll.RefreshedCredentials != nil {
			t.Errorf("an api key is never refreshed")
		}

		again, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: poll.NextCursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Readings) != 0 {
			t.Errorf("repeat poll returned %d readings", len(again.Readings))
		}

		srv.SetLatestMeasure(iopooltest.SamplePoolID, &iopooltest.Measure{
			Temperature: iopooltest.Float(19.5), PH: iopooltest.Float(7.3), ORP: iopooltest.Float(700),
			Mode: "standard", IsValid: true, EcoID: "0C6rSuWJ", MeasuredAt: "2025-05-03T19:33:00.000Z",
		})
		third, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: again.NextCursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(third.Readings) != 3 || !third.Readings[0].RecordedAt.Equal(at.Add(time.Hour)) {
			t.Errorf("after a new measure: %+v", third.Readings)
		}
		if got := srv.Requests(); count(got, "/v1/pools") != len(got) {
			t.Errorf("requests = %v, want only the pool list", got)
		}
	})
}

func TestPollMeasures(t *testing.T) {
	const at = "2025-06-01T08:00:00.000Z"
	measure := func(mode string, valid bool) *iopooltest.Measure {
		return &iopooltest.Measure{
			Temperature: iopooltest.Float(24), PH: iopooltest.Float(7.4), ORP: iopooltest.Float(690),
			Mode: mode, IsValid: valid, EcoID: "eco1", MeasuredAt: at,
		}
	}
	tests := []struct {
		name    string
		measure *iopooltest.Measure
		metrics []string
		quality sdk.Quality
	}{
		{"no measure yet", nil, nil, ""},
		{"standard", measure("standard", true), []string{"temperature", "ph", "orp"}, sdk.QualityGood},
		{"manual", measure("manual", true), []string{"temperature", "ph", "orp"}, sdk.QualityGood},
		{"invalid", measure("standard", false), []string{"temperature", "ph", "orp"}, sdk.QualitySuspect},
		{"maintenance", measure("maintenance", true), []string{"temperature", "ph", "orp"}, sdk.QualitySuspect},
		{"null ph", func() *iopooltest.Measure { m := measure("live", true); m.PH = nil; return m }(),
			[]string{"temperature", "orp"}, sdk.QualityGood},
		{"unreadable time", func() *iopooltest.Measure { m := measure("live", true); m.MeasuredAt = "soon"; return m }(), nil, ""},
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, srv := start(t, tr)
				srv.SetLatestMeasure(iopooltest.SamplePoolID, tt.measure)
				res, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: account(iopooltest.APIKey)})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range res.Readings {
					got = append(got, r.Metric)
					if r.Quality != tt.quality {
						t.Errorf("%s quality = %q, want %q", r.Metric, r.Quality, tt.quality)
					}
				}
				if !slices.Equal(got, tt.metrics) {
					t.Errorf("metrics = %v, want %v", got, tt.metrics)
				}
				if res.NextCursor == "" {
					t.Errorf("no cursor")
				}
			})
		}
	})
}

func TestPollCursorPerPool(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		c, srv := start(t, tr)
		acct := account(iopooltest.APIKey)
		first, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
		if err != nil {
			t.Fatal(err)
		}
		// A second pool whose measure is older than the first pool's still comes through.
		pools := srv.Pools()
		pools = append(pools, iopooltest.Pool{ID: "pool-2", Title: "Spa", Mode: "STANDARD", LatestMeasure: &iopooltest.Measure{
			Temperature: iopooltest.Float(36), Mode: "standard", IsValid: true, MeasuredAt: "2025-01-01T00:00:00Z",
		}})
		srv.SetPools(pools)
		second, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: first.NextCursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(second.Readings) != 1 || second.Readings[0].ProviderDeviceID != "pool-2" {
			t.Fatalf("second poll = %+v", second.Readings)
		}
		// The sensor re-sends an older measure: never returned again.
		srv.SetLatestMeasure("pool-2", &iopooltest.Measure{Temperature: iopooltest.Float(35), Mode: "standard", IsValid: true, MeasuredAt: "2024-12-31T23:00:00Z"})
		third, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: second.NextCursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(third.Readings) != 0 {
			t.Errorf("third poll = %+v", third.Readings)
		}
		// A corrupt cursor starts afresh rather than failing forever.
		fresh, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: "{broken"})
		if err != nil || len(fresh.Readings) != 4 {
			t.Errorf("corrupt cursor: %d readings, %v", len(fresh.Readings), err)
		}
	})
}

func TestPollAndDiscoverFailures(t *testing.T) {
	tests := []struct {
		name  string
		key   string
		setup func(*iopooltest.Server)
		kind  sdk.ErrorKind
	}{
		{"key revoked", iopooltest.APIKey, func(s *iopooltest.Server) { s.RevokeKey(iopooltest.APIKey) }, sdk.KindReauth},
		{"key revoked 403", iopooltest.APIKey, func(s *iopooltest.Server) {
			s.RevokeKey(iopooltest.APIKey)
			s.SetRejectStatus(http.StatusForbidden)
		}, sdk.KindReauth},
		{"no key stored", "", nil, sdk.KindReauth},
		{"quota", iopooltest.APIKey, func(s *iopooltest.Server) { s.SetStatus(http.StatusTooManyRequests) }, sdk.KindTemporary},
		{"upstream 503", iopooltest.APIKey, func(s *iopooltest.Server) { s.SetStatus(http.StatusServiceUnavailable) }, sdk.KindTemporary},
		{"malformed body", iopooltest.APIKey, func(s *iopooltest.Server) { s.SetStatus(http.StatusOK) }, sdk.KindTemporary},
		{"bad request", iopooltest.APIKey, func(s *iopooltest.Server) { s.SetStatus(http.StatusBadRequest) }, sdk.KindPermanent},
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, srv := start(t, tr)
				if tt.setup != nil {
					tt.setup(srv)
				}
				_, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: account(tt.key)})
				wantKind(t, err, tt.kind)
				_, err = c.DiscoverDevices(ctx(t), sdk.DiscoverRequest{Account: account(tt.key)})
				wantKind(t, err, tt.kind)
			})
		}
	})
}

func count(paths []string, p string) int {
	n := 0
	for _, x := range paths {
		if x == p {
			n++
		}
	}
	return n
}

// TestInvalidUTF8PoolIDRefused: a pool id that is not valid UTF-8 reaches the adapter as
// U+FFFD (encoding/json's replacement), a lossy id that would never match the pool
// again. The SDK's shared checks refuse such an answer on the wire, where the host
// receives it, so iopool (and every other plugin) gets the rule without its own code;
// the fuzz corpus holds the input that found it (testdata/fuzz/FuzzPollResponse).
func TestInvalidUTF8PoolIDRefused(t *testing.T) {
	wire := transports[1]
	c, srv := start(t, wire)
	srv.AddKey("k")
	pools := srv.Pools()
	pools[0].ID = "bad\xffid"
	srv.SetPools(pools)
	_, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: account("k")})
	wantKind(t, err, sdk.KindPermanent)
	if !strings.Contains(err.Error(), "U+FFFD") {
		t.Errorf("poll error %q does not say why", err)
	}
	_, err = c.DiscoverDevices(ctx(t), sdk.DiscoverRequest{Account: account("k")})
	wantKind(t, err, sdk.KindPermanent)
}

// An account without pools may be answered 204 or an empty 200 as well as []: nothing to
// return, never an error that would fail its connect and every poll.
func TestEmptyAnswersAreQuiet(t *testing.T) {
	for _, status := range []int{http.StatusNoContent, http.StatusOK} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			eachTransport(t, func(t *testing.T, tr transport) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Header.Get("x-api-key") != iopooltest.APIKey {
						w.WriteHeader(http.StatusUnauthorized)
						return
					}
					w.WriteHeader(status)
				}))
				t.Cleanup(srv.Close)
				c := tr.wrap(t, iopool.New())
				if err := c.Configure(ctx(t), sdk.ConfigureRequest{Settings: map[string]string{iopool.SettingBaseURL: srv.URL}}); err != nil {
					t.Fatal(err)
				}
				conn, err := c.Connect(ctx(t), sdk.ConnectRequest{Input: map[string]string{"api_key": iopooltest.APIKey}})
				if err != nil || conn.Linkage == nil {
					t.Fatalf("connect: %+v, %v", conn, err)
				}
				d, err := c.DiscoverDevices(ctx(t), sdk.DiscoverRequest{Account: account(iopooltest.APIKey)})
				if err != nil || len(d.Devices) != 0 {
					t.Fatalf("discover: %+v, %v; want no device", d, err)
				}
				res, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: account(iopooltest.APIKey)})
				if err != nil || len(res.Readings) != 0 || res.NextCursor == "" {
					t.Fatalf("poll: %+v, %v; want a quiet poll", res, err)
				}
			})
		})
	}
}

// A 429 or 503 naming a Retry-After hands it to the host with the temporary error, in
// process and across the plugin wire, so the host polls the account no sooner.
func TestRetryAfterReachesTheHost(t *testing.T) {
	date := time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		name, header string
		status       int
		want         time.Duration // 0: none; else at least this, at most an hour more
	}{
		{"429 seconds", "3600", http.StatusTooManyRequests, time.Hour},
		{"429 date", date, http.StatusTooManyRequests, 2*time.Hour - time.Minute},
		{"503 seconds", "120", http.StatusServiceUnavailable, 2 * time.Minute},
		{"429 without", "", http.StatusTooManyRequests, 0},
		{"429 unreadable", "soon", http.StatusTooManyRequests, 0},
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, srv := start(t, tr)
				srv.SetStatus(tt.status)
				srv.SetRetryAfter(tt.header)
				_, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: account(iopooltest.APIKey)})
				wantKind(t, err, sdk.KindTemporary)
				got := sdk.RetryAfterOf(err)
				if tt.want == 0 && got != 0 || tt.want != 0 && (got < tt.want || got > tt.want+time.Hour) {
					t.Errorf("retry after %v, want %v", got, tt.want)
				}
			})
		}
	})
}

// An answer that lists no pool for a while (an empty array) moves no cursor: when the
// pool is listed again with the measure already returned, it is not returned again.
func TestEmptyListKeepsTheCursor(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		c, srv := start(t, tr)
		acct := account(iopooltest.APIKey)
		pools := srv.Pools()
		first, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
		if err != nil || len(first.Readings) != 3 {
			t.Fatalf("first poll: %d readings, %v", len(first.Readings), err)
		}
		srv.SetPools(nil)
		quiet, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: first.NextCursor})
		if err != nil || len(quiet.Readings) != 0 {
			t.Fatalf("empty list: %+v, %v", quiet, err)
		}
		if quiet.NextCursor != first.NextCursor {
			t.Errorf("empty list moved the cursor %s -> %s", first.NextCursor, quiet.NextCursor)
		}
		srv.SetPools(pools)
		again, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: quiet.NextCursor})
		if err != nil || len(again.Readings) != 0 {
			t.Fatalf("pool listed again: %d readings (%v), want none: its measure was returned", len(again.Readings), err)
		}
	})
}
