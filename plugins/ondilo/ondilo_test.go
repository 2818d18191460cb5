package ondilo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/ondilo"
	"github.com/poolhost/poolhost/plugins/ondilo/ondilotest"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/metric"
)

const redirectURI = "https://poolhost.example/v1/providers/ondilo/callback"

// client is what the tests drive: the adapter itself or a client reaching it over the
// plugin wire (see transports).
type client interface {
	sdk.Adapter
	sdk.Poller
}

// transport builds a client for an adapter.
type transport struct {
	name string
	wrap func(t *testing.T, a *ondilo.Adapter) client
}

// eachTransport runs f once per transport, so every behaviour is checked both in
// process and across the real plugin wire.
func eachTransport(t *testing.T, f func(t *testing.T, tr transport)) {
	t.Helper()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { f(t, tr) })
	}
}

// start runs a fake Ondilo and a configured adapter pointing at it.
func start(t *testing.T, tr transport, opts ...ondilo.Option) (client, *ondilotest.Server) {
	t.Helper()
	srv := ondilotest.NewServer(t)
	// No pacing against the fake unless a test asks for it.
	opts = append([]ondilo.Option{ondilo.WithRequestSpacing(0)}, opts...)
	c := tr.wrap(t, ondilo.New(opts...))
	err := c.Configure(ctx(t), sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: srv.URL}})
	if err != nil {
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

// account returns an account holding a fresh token pair from srv.
func account(srv *ondilotest.Server, expiry time.Time) sdk.Account {
	at, rt := srv.IssueTokens()
	return sdk.Account{
		ID:                "acct-1",
		ExternalAccountID: "pool:234",
		Credentials: sdk.Credentials{
			"access_token":  at,
			"refresh_token": rt,
			"expiry":        expiry.UTC().Format(time.RFC3339),
		},
	}
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
		if d.ID != "ondilo" || d.ProtocolVersion != sdk.ProtocolVersion {
			t.Errorf("id/protocol = %q/%d", d.ID, d.ProtocolVersion)
		}
		want := sdk.Capabilities{Connect: sdk.ConnectOAuth2, Poll: true, MinPollInterval: 15 * time.Minute}
		if !reflect.DeepEqual(d.Capabilities, want) {
			t.Errorf("capabilities = %+v, want %+v", d.Capabilities, want)
		}
		if len(d.RequiredSettings) != 0 || len(d.RequiredSecrets) != 0 {
			t.Errorf("required settings/secrets = %v/%v, want none (all have defaults)", d.RequiredSettings, d.RequiredSecrets)
		}
	})
}

func TestConfigureRejectsBadBaseURL(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		c := tr.wrap(t, ondilo.New())
		for _, v := range []string{"interop.ondilo.com", "ftp://x", "http://"} {
			err := c.Configure(ctx(t), sdk.ConfigureRequest{Settings: map[string]string{"base_url": v}})
			wantKind(t, err, sdk.KindInvalidInput)
		}
	})
}

func TestConnectAuthorizeURL(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		c := tr.wrap(t, ondilo.New())
		// Unconfigured: the public defaults apply.
		res, err := c.Connect(ctx(t), sdk.ConnectRequest{RedirectURI: redirectURI, State: "st&ate=1"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Linkage != nil {
			t.Fatalf("oauth2 connect returned a linkage")
		}
		u, err := url.Parse(res.AuthorizeURL)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Scheme + "://" + u.Host + u.Path; got != "https://interop.ondilo.com/oauth2/authorize" {
			t.Errorf("authorize endpoint = %s", got)
		}
		want := url.Values{
			"client_id":     {"customer_api"},
			"response_type": {"code"},
			"redirect_uri":  {redirectURI},
			"scope":         {"api"},
			"state":         {"st&ate=1"},
		}
		if got := u.Query(); got.Encode() != want.Encode() {
			t.Errorf("authorize query = %v, want %v", got, want)
		}

		_, err = c.Connect(ctx(t), sdk.ConnectRequest{RedirectURI: redirectURI})
		wantKind(t, err, sdk.KindInvalidInput)
	})
}

// authorize follows the authorize URL like a browser would and returns the callback's
// query parameters.
func authorize(t *testing.T, authorizeURL string) url.Values {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, authorizeURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: HTTP %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %s, want %s", got, redirectURI)
	}
	return loc.Query()
}

func callbackRequest(q url.Values) sdk.CallbackRequest {
	all := map[string]string{}
	for k := range q {
		all[k] = q.Get(k)
	}
	return sdk.CallbackRequest{Code: q.Get("code"), State: q.Get("state"), RedirectURI: redirectURI, Query: all}
}

func TestConnectCallbackDiscoverPoll(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		c, srv := start(t, tr)

		res, err := c.Connect(ctx(t), sdk.ConnectRequest{RedirectURI: redirectURI, State: "s1"})
		if err != nil {
			t.Fatal(err)
		}
		q := authorize(t, res.AuthorizeURL)
		if q.Get("state") != "s1" {
			t.Fatalf("state came back as %q", q.Get("state"))
		}
		before := time.Now()
		link, err := c.Callback(ctx(t), callbackRequest(q))
		if err != nil {
			t.Fatalf("Callback: %v", err)
		}
		if link.ExternalAccountID != "pool:234" {
			t.Errorf("external account id = %q, want pool:234", link.ExternalAccountID)
		}
		if link.DisplayName != "Ondilo: John's Pool" {
			t.Errorf("display name = %q", link.DisplayName)
		}
		cr := link.Credentials
		if cr["access_token"] == "" || cr["refresh_token"] == "" {
			t.Fatalf("credentials lack tokens: keys %v", keys(cr))
		}
		exp, err := time.Parse(time.RFC3339, cr["expiry"])
		if err != nil || exp.Before(before.Add(59*time.Minute)) || exp.After(time.Now().Add(61*time.Minute)) {
			t.Errorf("expiry = %q (%v), want about an hour from now", cr["expiry"], err)
		}
		acct := sdk.Account{ID: "a1", ExternalAccountID: link.ExternalAccountID, Credentials: cr}

		disc, err := c.DiscoverDevices(ctx(t), sdk.DiscoverRequest{Account: acct})
		if err != nil {
			t.Fatalf("DiscoverDevices: %v", err)
		}
		if disc.RefreshedCredentials != nil {
			t.Errorf("discover refreshed a valid token")
		}
		wantDev := sdk.Device{
			ProviderDeviceID: ondilotest.SampleDeviceUUID,
			Name:             "John's Pool",
			Model:            "ICO",
			Metadata: map[string]string{
				"pool_id":       "234",
				"pool_type":     "outdoor_inground_pool",
				"serial_number": "W1122333044455",
				"sw_version":    "1.7.1-stable",
			},
		}
		if len(disc.Devices) != 1 || !deviceEqual(disc.Devices[0], wantDev) {
			t.Fatalf("devices = %+v, want [%+v]", disc.Devices, wantDev)
		}
		// /pools' volume (15 m³), type and disinfection: a suggestion, not a reading.
		wantSuggested := sdk.PoolSuggestion{VolumeLiters: 15000, Kind: "pool", Location: "outdoor", Sanitizer: "chlorine"}
		if s := disc.Devices[0].Suggested; s == nil || *s != wantSuggested {
			t.Fatalf("suggested = %+v, want %+v", s, wantSuggested)
		}

		poll, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
		if err != nil {
			t.Fatalf("PollReadings: %v", err)
		}
		at := time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC)
		want := []sdk.Reading{
			{Metric: metric.Temperature, Value: 19, Unit: metric.UnitCelsius},
			{Metric: metric.PH, Value: 9.29, Unit: metric.UnitPH},
			{Metric: metric.ORP, Value: 647, Unit: metric.UnitMillivolt},
			// salt is null in the sample: dropped.
			{Metric: metric.TDS, Value: 845, Unit: metric.UnitPPM},
			{Metric: metric.Battery, Value: 50, Unit: metric.UnitPercent},
			{Metric: metric.Signal, Value: 60, Unit: metric.UnitPercent},
		}
		for i := range want {
			want[i].ProviderDeviceID = ondilotest.SampleDeviceUUID
			want[i].RecordedAt = at
			want[i].Quality = sdk.QualityGood
		}
		checkReadings(t, poll.Readings, want)
		if poll.NextCursor == "" {
			t.Fatal("no cursor after a poll with readings")
		}

		again, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: poll.NextCursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Readings) != 0 {
			t.Errorf("repeat poll returned %d readings already returned", len(again.Readings))
		}

		if n := count(srv.Requests(), "/configuration"); n != 0 {
			t.Errorf("the configuration endpoint was called %d times", n)
		}
	})
}

func TestPollCursor(t *testing.T) {
	m := func(typ string, v float64, at string) ondilotest.Measure {
		return ondilotest.Measure{DataType: typ, Value: ondilotest.Float(v), ValueTime: at, IsValid: true}
	}
	const t1, t2, t0 = "2024-01-01 01:00:00", "2024-01-01 02:00:00", "2024-01-01 00:00:00"
	tests := []struct {
		name  string
		first []ondilotest.Measure
		then  []ondilotest.Measure
		want  []string // metric@value_time returned by the second poll
	}{
		{
			name:  "nothing new",
			first: []ondilotest.Measure{m("ph", 7.2, t1), m("orp", 700, t1)},
			then:  []ondilotest.Measure{m("ph", 7.2, t1), m("orp", 700, t1)},
		},
		{
			name:  "new hour",
			first: []ondilotest.Measure{m("ph", 7.2, t1), m("orp", 700, t1)},
			then:  []ondilotest.Measure{m("ph", 7.3, t2), m("orp", 710, t2)},
			want:  []string{"ph@" + t2, "orp@" + t2},
		},
		{
			name:  "per data type",
			first: []ondilotest.Measure{m("ph", 7.2, t1), m("battery", 90, t0)},
			// battery reported later than the water measures but still newer than its own cursor
			then: []ondilotest.Measure{m("ph", 7.2, t1), m("battery", 89, t1)},
			want: []string{"battery@" + t1},
		},
		{
			name:  "older value never returned",
			first: []ondilotest.Measure{m("ph", 7.2, t1)},
			then:  []ondilotest.Measure{m("ph", 7.0, t0)},
		},
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, srv := start(t, tr)
				acct := account(srv, time.Now().Add(time.Hour))
				srv.SetMeasures(ondilotest.SamplePoolID, tt.first)
				first, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
				if err != nil {
					t.Fatal(err)
				}
				if len(first.Readings) != len(tt.first) {
					t.Fatalf("first poll: %d readings, want %d", len(first.Readings), len(tt.first))
				}
				srv.SetMeasures(ondilotest.SamplePoolID, tt.then)
				second, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: first.NextCursor})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range second.Readings {
					got = append(got, r.Metric+"@"+r.RecordedAt.Format("2006-01-02 15:04:05"))
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("second poll returned %v, want %v", got, tt.want)
				}
			})
		}
	})
}

func TestPollQualityAndDrops(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		c, srv := start(t, tr)
		const at = "2024-03-01 10:00:00"
		srv.SetMeasures(ondilotest.SamplePoolID, []ondilotest.Measure{
			{DataType: "ph", Value: ondilotest.Float(7.4), ValueTime: at, IsValid: true},
			{DataType: "orp", Value: ondilotest.Float(120), ValueTime: at, IsValid: false, ExclusionReason: ondilotest.String("out_of_water")},
			{DataType: "temperature", Value: ondilotest.Float(25), ValueTime: at, IsValid: true, ExclusionReason: ondilotest.String("sensor_error")},
			{DataType: "salt", Value: ondilotest.Float(3100), ValueTime: at, IsValid: true},
			{DataType: "tds", Value: nil, ValueTime: at, IsValid: true},
			{DataType: "battery", Value: ondilotest.Float(80), ValueTime: "yesterday", IsValid: true},
			{DataType: "conductivity", Value: ondilotest.Float(5), ValueTime: at, IsValid: true},
		})
		res, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: account(srv, time.Now().Add(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]sdk.Reading{}
		for _, r := range res.Readings {
			got[r.Metric] = r
		}
		want := map[string]sdk.Quality{
			metric.PH:          sdk.QualityGood,
			metric.ORP:         sdk.QualitySuspect,
			metric.Temperature: sdk.QualitySuspect,
			metric.Salt:        sdk.QualityGood,
		}
		if len(got) != len(want) {
			t.Fatalf("readings for %v, want %v (null tds, unreadable time and unknown type dropped)", keys(got), keys(want))
		}
		for m, q := range want {
			if got[m].Quality != q {
				t.Errorf("%s quality = %q, want %q", m, got[m].Quality, q)
			}
		}
		if s := got[metric.Salt]; s.Value != 3100 || s.Unit != metric.UnitPPM {
			t.Errorf("salt = %v %s, want 3100 ppm (mg/L)", s.Value, s.Unit)
		}
		if !strings.Contains(string(got[metric.ORP].RawPayload), `"out_of_water"`) {
			t.Errorf("raw payload = %s, want the measure as Ondilo sent it", got[metric.ORP].RawPayload)
		}
	})
}

func TestTokenRefresh(t *testing.T) {
	tests := []struct {
		name        string
		expiry      time.Duration // stored expiry relative to now
		expireOnSrv bool          // the fake no longer honours the stored token
		wantRefresh bool
	}{
		{name: "valid token", expiry: time.Hour},
		{name: "stored expiry passed", expiry: -time.Minute, expireOnSrv: true, wantRefresh: true},
		{name: "401 before stored expiry", expiry: 30 * time.Minute, expireOnSrv: true, wantRefresh: true},
		{name: "about to expire", expiry: 10 * time.Second, wantRefresh: true},
	}
	calls := []struct {
		name string
		call func(ctx context.Context, c client, a sdk.Account) (sdk.Credentials, error)
	}{
		{"discover", func(ctx context.Context, c client, a sdk.Account) (sdk.Credentials, error) {
			r, err := c.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: a})
			return r.RefreshedCredentials, err
		}},
		{"poll", func(ctx context.Context, c client, a sdk.Account) (sdk.Credentials, error) {
			r, err := c.PollReadings(ctx, sdk.PollRequest{Account: a})
			return r.RefreshedCredentials, err
		}},
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, tt := range tests {
			for _, call := range calls {
				t.Run(tt.name+"/"+call.name, func(t *testing.T) {
					c, srv := start(t, tr)
					acct := account(srv, time.Now().Add(tt.expiry))
					if tt.expireOnSrv {
						srv.ExpireAccessTokens()
					}
					fresh, err := call.call(ctx(t), c, acct)
					if err != nil {
						t.Fatalf("call failed: %v", err)
					}
					refreshes := srv.TokenRequests("refresh_token")
					if !tt.wantRefresh {
						if fresh != nil || refreshes != 0 {
							t.Fatalf("refreshed a valid token (%d refreshes, credentials %v)", refreshes, keys(fresh))
						}
						return
					}
					if refreshes != 1 {
						t.Errorf("%d refresh requests, want 1", refreshes)
					}
					if fresh == nil || fresh["access_token"] == "" || fresh["access_token"] == acct.Credentials["access_token"] {
						t.Fatalf("no new access token in refreshed credentials (keys %v)", keys(fresh))
					}
					if fresh["refresh_token"] != acct.Credentials["refresh_token"] {
						t.Errorf("refresh token changed unexpectedly")
					}
					if exp, err := time.Parse(time.RFC3339, fresh["expiry"]); err != nil || time.Until(exp) < 50*time.Minute {
						t.Errorf("refreshed expiry = %q", fresh["expiry"])
					}
				})
			}
		}
	})
}

func TestReauth(t *testing.T) {
	tests := []struct {
		name  string
		setup func(srv *ondilotest.Server, a *sdk.Account)
	}{
		{"grant revoked", func(srv *ondilotest.Server, a *sdk.Account) { srv.RevokeGrant() }},
		{"grant revoked, token expired", func(srv *ondilotest.Server, a *sdk.Account) {
			srv.RevokeGrant()
			a.Credentials["expiry"] = time.Now().Add(-time.Hour).Format(time.RFC3339)
		}},
		{"no refresh token", func(srv *ondilotest.Server, a *sdk.Account) {
			srv.ExpireAccessTokens()
			delete(a.Credentials, "refresh_token")
		}},
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, srv := start(t, tr)
				acct := account(srv, time.Now().Add(time.Hour))
				tt.setup(srv, &acct)
				_, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
				wantKind(t, err, sdk.KindReauth)
				_, err = c.DiscoverDevices(ctx(t), sdk.DiscoverRequest{Account: acct})
				wantKind(t, err, sdk.KindReauth)
			})
		}
	})
}

func TestUpstreamFailures(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(srv *ondilotest.Server)
		kind     sdk.ErrorKind
		contains string
	}{
		{"quota 429", func(s *ondilotest.Server) { s.SetQuotaExceeded(http.StatusTooManyRequests) }, sdk.KindTemporary, "quota"},
		{"quota body on 403", func(s *ondilotest.Server) { s.SetQuotaExceeded(http.StatusForbidden) }, sdk.KindTemporary, "quota"},
		{"503", func(s *ondilotest.Server) { s.FailNext(1, http.StatusServiceUnavailable) }, sdk.KindTemporary, "503"},
		{"malformed body", func(s *ondilotest.Server) { s.FailNext(1, http.StatusOK) }, sdk.KindTemporary, "decode"},
		{"400", func(s *ondilotest.Server) { s.FailNext(1, http.StatusBadRequest) }, sdk.KindPermanent, "400"},
		// A token endpoint outage is not a revoked grant: no reauth.
		{"token endpoint down during refresh", func(s *ondilotest.Server) {
			s.ExpireAccessTokens()
			s.FailTokenNext(1, http.StatusBadGateway)
		}, sdk.KindTemporary, "502"},
		{"token endpoint over quota", func(s *ondilotest.Server) {
			s.ExpireAccessTokens()
			s.FailTokenNext(1, http.StatusTooManyRequests)
		}, sdk.KindTemporary, "quota"},
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, srv := start(t, tr)
				acct := account(srv, time.Now().Add(time.Hour))
				tt.setup(srv)
				_, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
				wantKind(t, err, tt.kind)
				if !strings.Contains(err.Error(), tt.contains) {
					t.Errorf("error %q does not mention %q", err, tt.contains)
				}
			})
		}
	})
}

func TestCallbackFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(srv *ondilotest.Server) sdk.CallbackRequest
		kind  sdk.ErrorKind
	}{
		{"consent denied", func(srv *ondilotest.Server) sdk.CallbackRequest {
			return sdk.CallbackRequest{State: "s", RedirectURI: redirectURI, Query: map[string]string{"error": "access_denied", "state": "s"}}
		}, sdk.KindInvalidInput},
		{"no code", func(srv *ondilotest.Server) sdk.CallbackRequest {
			return sdk.CallbackRequest{State: "s", RedirectURI: redirectURI}
		}, sdk.KindInvalidInput},
		{"unknown code", func(srv *ondilotest.Server) sdk.CallbackRequest {
			return sdk.CallbackRequest{Code: "forged", State: "s", RedirectURI: redirectURI}
		}, sdk.KindInvalidInput},
		{"redirect uri mismatch", func(srv *ondilotest.Server) sdk.CallbackRequest {
			return sdk.CallbackRequest{Code: srv.IssueCode("https://elsewhere.example/cb"), State: "s", RedirectURI: redirectURI}
		}, sdk.KindInvalidInput},
		{"account without pools, API without /user/info", func(srv *ondilotest.Server) sdk.CallbackRequest {
			srv.RemovePools()
			srv.SetUserInfo(nil)
			return sdk.CallbackRequest{Code: srv.IssueCode(redirectURI), State: "s", RedirectURI: redirectURI}
		}, sdk.KindInvalidInput},
		{"account without pools, user without email", func(srv *ondilotest.Server) sdk.CallbackRequest {
			srv.RemovePools()
			srv.SetUserInfo(&ondilotest.UserInfo{FirstName: "John"})
			return sdk.CallbackRequest{Code: srv.IssueCode(redirectURI), State: "s", RedirectURI: redirectURI}
		}, sdk.KindInvalidInput},
		{"token endpoint down", func(srv *ondilotest.Server) sdk.CallbackRequest {
			srv.FailTokenNext(1, http.StatusServiceUnavailable)
			return sdk.CallbackRequest{Code: srv.IssueCode(redirectURI), State: "s", RedirectURI: redirectURI}
		}, sdk.KindTemporary},
		{"quota while listing pools", func(srv *ondilotest.Server) sdk.CallbackRequest {
			srv.SetQuotaExceeded(http.StatusTooManyRequests)
			return sdk.CallbackRequest{Code: srv.IssueCode(redirectURI), State: "s", RedirectURI: redirectURI}
		}, sdk.KindTemporary},
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, srv := start(t, tr)
				_, err := c.Callback(ctx(t), tt.setup(srv))
				wantKind(t, err, tt.kind)
			})
		}
	})
}

func TestCodeIsSingleUse(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		c, srv := start(t, tr)
		req := sdk.CallbackRequest{Code: srv.IssueCode(redirectURI), State: "s", RedirectURI: redirectURI}
		if _, err := c.Callback(ctx(t), req); err != nil {
			t.Fatal(err)
		}
		_, err := c.Callback(ctx(t), req)
		wantKind(t, err, sdk.KindInvalidInput)
	})
}

func TestSeveralPools(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		c, srv := start(t, tr)
		// A newer pool with its own ICO, and one whose ICO is not installed yet.
		srv.AddPool(ondilotest.Pool{ID: 512, Name: "Spa", Type: "spa"},
			&ondilotest.Device{UUID: "spa-ico", SerialNumber: "W2", SWVersion: "1.8.0"},
			[]ondilotest.Measure{{DataType: "temperature", Value: ondilotest.Float(37), ValueTime: "2024-01-01 01:30:00", IsValid: true}})
		srv.AddPool(ondilotest.Pool{ID: 100, Name: "Pond", Type: "pond"}, nil, nil)

		link, err := c.Callback(ctx(t), sdk.CallbackRequest{Code: srv.IssueCode(redirectURI), State: "s", RedirectURI: redirectURI})
		if err != nil {
			t.Fatal(err)
		}
		if link.ExternalAccountID != "pool:100" {
			t.Errorf("external account id = %q, want the lowest pool id", link.ExternalAccountID)
		}
		acct := sdk.Account{Credentials: link.Credentials}
		disc, err := c.DiscoverDevices(ctx(t), sdk.DiscoverRequest{Account: acct})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range disc.Devices {
			ids = append(ids, d.ProviderDeviceID)
		}
		if !slices.Equal(ids, []string{ondilotest.SampleDeviceUUID, "spa-ico"}) {
			t.Errorf("devices = %v", ids)
		}
		// A pool with no volume and a bare "spa" type suggests only its kind.
		if s := disc.Devices[1].Suggested; s == nil || *s != (sdk.PoolSuggestion{Kind: "spa"}) {
			t.Errorf("spa suggestion = %+v", s)
		}

		poll, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
		if err != nil {
			t.Fatal(err)
		}
		perDevice := map[string]int{}
		for _, r := range poll.Readings {
			perDevice[r.ProviderDeviceID]++
		}
		if perDevice[ondilotest.SampleDeviceUUID] != 6 || perDevice["spa-ico"] != 1 || len(perDevice) != 2 {
			t.Errorf("readings per device = %v", perDevice)
		}
		// The cursor caches device ids: the next poll costs one list plus one
		// lastmeasures per pool with an ICO.
		n := len(srv.Requests())
		if _, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: poll.NextCursor}); err != nil {
			t.Fatal(err)
		}
		if got := srv.Requests()[n:]; len(got) != 3 || count(got, "/device") != 0 {
			t.Errorf("second poll made requests %v, want /pools and two /lastmeasures", got)
		}
	})
}

func TestDeviceRecheckedDaily(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		now := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
		c, srv := start(t, tr, ondilo.WithClock(func() time.Time { return now }))
		acct := account(srv, now.Add(time.Hour))
		acct.Credentials["expiry"] = "" // the fake clock is not the wall clock: let a 401 decide
		first, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
		if err != nil {
			t.Fatal(err)
		}
		// The ICO is swapped; within the day the cached uuid is still trusted.
		srv.SetDevice(ondilotest.SamplePoolID, &ondilotest.Device{UUID: "new-ico"})
		now = now.Add(23 * time.Hour)
		n := len(srv.Requests())
		same, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: first.NextCursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(same.Readings) != 0 || count(srv.Requests()[n:], "/device") != 0 {
			t.Fatalf("within the day: %d readings, requests %v", len(same.Readings), srv.Requests()[n:])
		}
		now = now.Add(2 * time.Hour)
		second, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: same.NextCursor})
		if err != nil {
			t.Fatal(err)
		}
		// The new device starts its own history, so the same measures come back under it.
		if len(second.Readings) != 6 || second.Readings[0].ProviderDeviceID != "new-ico" {
			t.Fatalf("after the swap: %d readings, first for %q", len(second.Readings), deviceOf(second.Readings))
		}
	})
}

func TestRequestsArePaced(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		const gap = 100 * time.Millisecond
		c, srv := start(t, tr, ondilo.WithRequestSpacing(gap))
		acct := account(srv, time.Now().Add(time.Hour))
		begin := time.Now()
		if _, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct}); err != nil {
			t.Fatal(err)
		}
		// /pools, /device, /lastmeasures: two gaps at least (only a lower bound, so a
		// slow machine cannot fail it).
		if n, took := len(srv.Requests()), time.Since(begin); n != 3 || took < 2*gap {
			t.Errorf("%d requests in %v, want 3 spaced by %v", n, took, gap)
		}
	})
}

func deviceOf(rs []sdk.Reading) string {
	if len(rs) == 0 {
		return ""
	}
	return rs[0].ProviderDeviceID
}

func TestCorruptCursorStartsAfresh(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		c, srv := start(t, tr)
		for _, cur := range []string{"not json", `{"v":99}`, `[]`} {
			res, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: account(srv, time.Now().Add(time.Hour)), Cursor: cur})
			if err != nil {
				t.Fatalf("cursor %q: %v", cur, err)
			}
			if len(res.Readings) != 6 {
				t.Errorf("cursor %q: %d readings, want the 6 latest", cur, len(res.Readings))
			}
		}
	})
}

func checkReadings(t *testing.T, got, want []sdk.Reading) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d readings, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ProviderDeviceID != w.ProviderDeviceID || g.Metric != w.Metric || g.Value != w.Value ||
			g.Unit != w.Unit || !g.RecordedAt.Equal(w.RecordedAt) || g.Quality != w.Quality {
			t.Errorf("reading %d = %+v, want %+v", i, g, w)
		}
		if len(g.RawPayload) == 0 {
			t.Errorf("reading %d has no raw payload", i)
		}
	}
}

func deviceEqual(a, b sdk.Device) bool {
	if a.ProviderDeviceID != b.ProviderDeviceID || a.Name != b.Name || a.Model != b.Model || len(a.Metadata) != len(b.Metadata) {
		return false
	}
	for k, v := range b.Metadata {
		if a.Metadata[k] != v {
			return false
		}
	}
	return true
}

func count(paths []string, suffix string) int {
	n := 0
	for _, p := range paths {
		if strings.HasSuffix(p, suffix) {
			n++
		}
	}
	return n
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// A call that refreshed the access token and then failed (503, quota) hands the new
// token back on the error, so the host stores it instead of refreshing again next time
// (and so an account survives if Ondilo ever starts rotating refresh tokens).
func TestRefreshThenFailKeepsCredentials(t *testing.T) {
	failures := []struct {
		name  string
		setup func(srv *ondilotest.Server)
	}{
		{"503", func(s *ondilotest.Server) { s.FailNext(1, http.StatusServiceUnavailable) }},
		{"quota", func(s *ondilotest.Server) { s.SetQuotaExceeded(http.StatusTooManyRequests) }},
	}
	calls := []struct {
		name string
		call func(ctx context.Context, c client, a sdk.Account) error
	}{
		{"discover", func(ctx context.Context, c client, a sdk.Account) error {
			_, err := c.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: a})
			return err
		}},
		{"poll", func(ctx context.Context, c client, a sdk.Account) error {
			_, err := c.PollReadings(ctx, sdk.PollRequest{Account: a})
			return err
		}},
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, f := range failures {
			for _, call := range calls {
				t.Run(f.name+"/"+call.name, func(t *testing.T) {
					c, srv := start(t, tr)
					acct := account(srv, time.Now().Add(-time.Minute))
					srv.ExpireAccessTokens()
					f.setup(srv)

					err := call.call(ctx(t), c, acct)
					wantKind(t, err, sdk.KindTemporary)
					if n := srv.TokenRequests("refresh_token"); n != 1 {
						t.Fatalf("%d refresh requests, want 1", n)
					}
					fresh, ok := sdk.RefreshedCredentialsOf(err)
					if !ok || fresh["access_token"] == "" || fresh["access_token"] == acct.Credentials["access_token"] {
						t.Fatalf("error carries no new access token (ok=%v, keys %v)", ok, keys(fresh))
					}
					if fresh["refresh_token"] != acct.Credentials["refresh_token"] {
						t.Error("refresh token changed unexpectedly")
					}
					if exp, err := time.Parse(time.RFC3339, fresh["expiry"]); err != nil || time.Until(exp) < 50*time.Minute {
						t.Errorf("refreshed expiry = %q", fresh["expiry"])
					}

					// With the stored credentials replaced, the retry needs no refresh.
					srv.SetQuotaExceeded(0)
					acct.Credentials = fresh
					if err := call.call(ctx(t), c, acct); err != nil {
						t.Fatalf("retry with the credentials from the error: %v", err)
					}
					if n := srv.TokenRequests("refresh_token"); n != 1 {
						t.Errorf("retry refreshed again (%d refresh requests)", n)
					}
				})
			}
		}

		t.Run("no refresh, no credentials", func(t *testing.T) {
			c, srv := start(t, tr)
			acct := account(srv, time.Now().Add(time.Hour))
			srv.FailNext(1, http.StatusServiceUnavailable)
			_, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
			wantKind(t, err, sdk.KindTemporary)
			if _, ok := sdk.RefreshedCredentialsOf(err); ok {
				t.Error("error carries credentials although nothing was refreshed")
			}
		})
	})
}

// Quiet answers: an ICO without measures yet, a pool without an ICO, answered 204, an
// empty 200 or 404 ("a page that doesn't exist", Ondilo's documentation says) as well as
// []. Each is nothing to return, never an error that would fail every poll of the account.
func TestEmptyAnswersAreQuiet(t *testing.T) {
	for _, empty := range []struct {
		name   string
		status int
	}{{"204", http.StatusNoContent}, {"empty 200", http.StatusOK}, {"404", http.StatusNotFound}} {
		t.Run(empty.name, func(t *testing.T) {
			eachTransport(t, func(t *testing.T, tr transport) {
				srv := ondilotest.NewServer(t)
				target, _ := url.Parse(srv.URL)
				proxy := httputil.NewSingleHostReverseProxy(target)
				var blank atomic.Value // the path suffix answered empty
				blank.Store("")
				front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if b := blank.Load().(string); b != "" && strings.HasSuffix(r.URL.Path, b) {
						w.WriteHeader(empty.status)
						return
					}
					proxy.ServeHTTP(w, r)
				}))
				t.Cleanup(front.Close)
				c := tr.wrap(t, ondilo.New(ondilo.WithRequestSpacing(0)))
				if err := c.Configure(ctx(t), sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: front.URL}}); err != nil {
					t.Fatal(err)
				}
				acct := account(srv, time.Now().Add(time.Hour))

				blank.Store("/lastmeasures")
				res, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
				if err != nil || len(res.Readings) != 0 || res.NextCursor == "" {
					t.Fatalf("ICO without measures: %+v, %v; want a quiet poll", res, err)
				}
				blank.Store("/device")
				dres, err := c.DiscoverDevices(ctx(t), sdk.DiscoverRequest{Account: acct})
				if err != nil || len(dres.Devices) != 0 {
					t.Fatalf("pool without an ICO: discover %+v, %v; want no device", dres, err)
				}
				res, err = c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
				if err != nil || len(res.Readings) != 0 {
					t.Fatalf("pool without an ICO: poll %+v, %v; want a quiet poll", res, err)
				}
				if empty.status == http.StatusNotFound {
					return // /pools itself is always there
				}
				blank.Store("/pools")
				res, err = c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
				if err != nil || len(res.Readings) != 0 {
					t.Fatalf("no pools: poll %+v, %v; want a quiet poll", res, err)
				}
			})
		})
	}
}

// Over quota or unavailable with a Retry-After: it reaches the host with the temporary
// error, in process and across the plugin wire, so the host polls the account no sooner
// and does not spend the user's hourly quota on refusals.
func TestRetryAfterReachesTheHost(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*ondilotest.Server)
		want  time.Duration
	}{
		{"quota 429", func(s *ondilotest.Server) { s.SetQuotaExceeded(http.StatusTooManyRequests) }, 40 * time.Minute},
		{"503", func(s *ondilotest.Server) { s.FailNext(1, http.StatusServiceUnavailable) }, 40 * time.Minute},
		{"500 says nothing", func(s *ondilotest.Server) { s.FailNext(1, http.StatusInternalServerError) }, 0},
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, srv := start(t, tr)
				acct := account(srv, time.Now().Add(time.Hour))
				tt.setup(srv)
				srv.SetRetryAfter("2400")
				_, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
				wantKind(t, err, sdk.KindTemporary)
				if got := sdk.RetryAfterOf(err); got != tt.want {
					t.Errorf("retry after %v, want %v", got, tt.want)
				}
			})
		}
	})
}

// TestTokenQuotaIsTemporary: Ondilo's over-quota body {"message":"Limit Exceeded"}
// from the token endpoint, whatever its status (PROVIDERS.md documents the body only),
// is a temporary refusal carrying any Retry-After, on a refresh never a revoked grant
// (reauth, which would make the user reconnect for nothing) and on a connect never a
// refused code; the grant still works once the quota is lifted.
func TestTokenQuotaIsTemporary(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, status := range []int{http.StatusTooManyRequests, http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden} {
			for _, retryAfter := range []string{"", "2400"} {
				want := time.Duration(0)
				if retryAfter != "" {
					want = 40 * time.Minute
				}
				name := fmt.Sprintf("%d retry-after %q", status, retryAfter)
				t.Run(name+" refresh", func(t *testing.T) {
					c, srv := start(t, tr)
					acct := account(srv, time.Now().Add(-time.Minute)) // expired: refresh first
					srv.SetTokenQuotaExceeded(status)
					srv.SetRetryAfter(retryAfter)
					_, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
					wantKind(t, err, sdk.KindTemporary)
					if got := sdk.RetryAfterOf(err); got != want {
						t.Errorf("retry after %v, want %v", got, want)
					}
					srv.SetTokenQuotaExceeded(0)
					srv.SetRetryAfter("")
					if _, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct}); err != nil {
						t.Errorf("poll once the quota is lifted: %v", err)
					}
				})
				t.Run(name+" connect", func(t *testing.T) {
					c, srv := start(t, tr)
					srv.SetTokenQuotaExceeded(status)
					srv.SetRetryAfter(retryAfter)
					_, err := c.Callback(ctx(t), sdk.CallbackRequest{Code: srv.IssueCode(redirectURI), State: "s", RedirectURI: redirectURI})
					wantKind(t, err, sdk.KindTemporary)
					if got := sdk.RetryAfterOf(err); got != want {
						t.Errorf("retry after %v, want %v", got, want)
					}
				})
			}
		}
	})
}

// An answer that lists no pool for a while moves no cursor: when the pool is listed
// again with the measures already returned, they are not returned again, and its ICO is
// not asked for again before its daily recheck.
func TestEmptyPoolListKeepsTheCursor(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		srv := ondilotest.NewServer(t)
		target, _ := url.Parse(srv.URL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		var none atomic.Bool
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if none.Load() && strings.HasSuffix(r.URL.Path, "/pools") {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte("[]"))
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(front.Close)
		c := tr.wrap(t, ondilo.New(ondilo.WithRequestSpacing(0)))
		if err := c.Configure(ctx(t), sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: front.URL}}); err != nil {
			t.Fatal(err)
		}
		acct := account(srv, time.Now().Add(time.Hour))
		first, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
		if err != nil || len(first.Readings) == 0 {
			t.Fatalf("first poll: %d readings, %v", len(first.Readings), err)
		}
		none.Store(true)
		quiet, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: first.NextCursor})
		if err != nil || len(quiet.Readings) != 0 {
			t.Fatalf("no pool listed: %+v, %v", quiet, err)
		}
		none.Store(false)
		before := len(srv.Requests())
		again, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: quiet.NextCursor})
		if err != nil || len(again.Readings) != 0 {
			t.Fatalf("pool listed again: %d readings (%v), want none: its measures were returned", len(again.Readings), err)
		}
		if got := srv.Requests()[before:]; slices.ContainsFunc(got, func(p string) bool { return strings.HasSuffix(p, "/device") }) {
			t.Errorf("pool listed again: asked for its ICO again: %v", got)
		}
	})
}

// A 403 on one pool's device or measures, asked with the token /pools has just accepted,
// is that pool out of the user's reach (a share withdrawn meanwhile), not a refused grant:
// the account is not sent to reconnect, its other pools are polled, and the pool keeps
// its cursor. A 403 on /pools itself still is a refused grant.
func TestForbiddenPoolIsNotAReauth(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		srv := ondilotest.NewServer(t)
		target, _ := url.Parse(srv.URL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		var forbid atomic.Value // path suffix answered 403
		forbid.Store("")
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if f := forbid.Load().(string); f != "" && strings.HasSuffix(r.URL.Path, f) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(`{"message":"User is not authorized to access this resource"}`))
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(front.Close)
		c := tr.wrap(t, ondilo.New(ondilo.WithRequestSpacing(0)))
		if err := c.Configure(ctx(t), sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: front.URL}}); err != nil {
			t.Fatal(err)
		}
		acct := account(srv, time.Now().Add(time.Hour))
		first, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
		if err != nil || len(first.Readings) == 0 {
			t.Fatalf("first poll: %d readings, %v", len(first.Readings), err)
		}

		forbid.Store("/lastmeasures")
		res, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: first.NextCursor})
		if err != nil || len(res.Readings) != 0 {
			t.Fatalf("measures forbidden: %+v, %v; want a quiet poll", res, err)
		}
		forbid.Store("/device")
		d, err := c.DiscoverDevices(ctx(t), sdk.DiscoverRequest{Account: acct})
		if err != nil || len(d.Devices) != 0 {
			t.Fatalf("device forbidden: discover %+v, %v; want the pool left out", d, err)
		}
		// A poll with no cached device asks /device: forbidden, the pool is skipped.
		res, err = c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
		if err != nil || len(res.Readings) != 0 {
			t.Fatalf("device forbidden: poll %+v, %v; want a quiet poll", res, err)
		}
		forbid.Store("")
		again, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: first.NextCursor})
		if err != nil || len(again.Readings) != 0 {
			t.Fatalf("pool readable again: %d readings (%v), want none new", len(again.Readings), err)
		}
		forbid.Store("/pools")
		_, err = c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
		wantKind(t, err, sdk.KindReauth)
	})
}

// An account with no pool yet is linked under its user (GET /user/info), and keeps
// that id: when a pool appears, polls find its ICO, and a reconnect — which now
// identifies the account by its pool, as every account with a pool always was — names
// the user's id as an alternate, so the host renews the account linked before.
func TestAccountWithoutPool(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		c, srv := start(t, tr)
		srv.RemovePools()

		connect := func() sdk.Linkage {
			t.Helper()
			res, err := c.Connect(ctx(t), sdk.ConnectRequest{RedirectURI: redirectURI, State: "s"})
			if err != nil {
				t.Fatal(err)
			}
			link, err := c.Callback(ctx(t), callbackRequest(authorize(t, res.AuthorizeURL)))
			if err != nil {
				t.Fatalf("Callback: %v", err)
			}
			return link
		}
		link := connect()
		userID := link.ExternalAccountID
		if !strings.HasPrefix(userID, "user:") || len(userID) != len("user:")+32 || strings.Contains(userID, "example.com") {
			t.Fatalf("external account id = %q, want user:<32 hex digits>", userID)
		}
		if len(link.AlternateAccountIDs) != 0 || link.DisplayName != "Ondilo: John Doe" {
			t.Fatalf("linkage %+v", link)
		}
		// The same user, however Ondilo cases or pads the address, is the same id.
		srv.SetUserInfo(&ondilotest.UserInfo{FirstName: "John", LastName: "Doe", Email: " John.Doe@Example.com"})
		if again := connect(); again.ExternalAccountID != userID {
			t.Fatalf("second connect: id %q, want %q", again.ExternalAccountID, userID)
		}
		srv.SetUserInfo(&ondilotest.UserInfo{Email: "someone.else@example.com"})
		if other := connect(); other.ExternalAccountID == userID {
			t.Fatal("another user got the same id")
		}

		acct := sdk.Account{ID: "a1", ExternalAccountID: userID, Credentials: link.Credentials}
		poll, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct})
		if err != nil || len(poll.Readings) != 0 {
			t.Fatalf("poll without pools: %+v, %v", poll, err)
		}

		at := "2024-01-01 01:00:00"
		srv.AddPool(ondilotest.Pool{ID: 901, Name: "New Pool", Type: "outdoor_inground_pool"},
			&ondilotest.Device{UUID: "ico-new"},
			[]ondilotest.Measure{{DataType: "ph", Value: ondilotest.Float(7.2), ValueTime: at, IsValid: true}})
		disc, err := c.DiscoverDevices(ctx(t), sdk.DiscoverRequest{Account: acct})
		if err != nil || len(disc.Devices) != 1 || disc.Devices[0].ProviderDeviceID != "ico-new" {
			t.Fatalf("discover after a pool appeared: %+v, %v", disc, err)
		}
		poll, err = c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: poll.NextCursor})
		if err != nil || len(poll.Readings) != 1 || poll.Readings[0].ProviderDeviceID != "ico-new" || poll.Readings[0].Value != 7.2 {
			t.Fatalf("poll after a pool appeared: %+v, %v", poll, err)
		}

		srv.SetUserInfo(&ondilotest.UserInfo{FirstName: "John", LastName: "Doe", Email: "john.doe@example.com"})
		re := connect()
		if re.ExternalAccountID != "pool:901" || !slices.Equal(re.AlternateAccountIDs, []string{userID}) {
			t.Fatalf("reconnect with a pool: id %q, alternates %q; want pool:901 and [%s]", re.ExternalAccountID, re.AlternateAccountIDs, userID)
		}
		// Without /user/info the linkage is what it always was.
		srv.SetUserInfo(nil)
		if re := connect(); re.ExternalAccountID != "pool:901" || len(re.AlternateAccountIDs) != 0 {
			t.Fatalf("reconnect, no /user/info: id %q, alternates %q", re.ExternalAccountID, re.AlternateAccountIDs)
		}
	})
}
