package sdk_test

// The Example functions in this file back snippets in PLUGINS.md; each snippet there
// names the Example it was copied from. Keep the two in step.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/metric"
)

// keyed is an API-key provider: Connect checks the key the user pasted and links at once.
type keyed struct {
	sdk.UnsupportedAdapter
}

func (keyed) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{
		ID:              "keyed",
		Version:         "0.1.0",
		ProtocolVersion: sdk.ProtocolVersion,
		Capabilities:    sdk.Capabilities{Connect: sdk.ConnectAPIKey, Poll: true, MinPollInterval: 5 * time.Minute},
	}, nil
}

func (keyed) Configure(context.Context, sdk.ConfigureRequest) error { return nil }

func (keyed) Connect(_ context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error) {
	key := strings.TrimSpace(req.Input["api_key"])
	if key == "" {
		// InvalidInput reaches the user as a 400 with this message: say what to do.
		return sdk.ConnectResult{}, sdk.InvalidInput("an api_key is required (provider app: settings, API key)")
	}
	// A real adapter calls the provider here to validate the key and learn the account id.
	return sdk.ConnectResult{Linkage: &sdk.Linkage{
		ExternalAccountID: "acct-7", // the provider's stable id, never an email or a name
		DisplayName:       "Jane's pools",
		Credentials:       sdk.Credentials{"api_key": key},
	}}, nil
}

// An API-key provider links at once: Connect returns a Linkage instead of an
// AuthorizeURL, and the host stores its Credentials encrypted.
func Example_apiKeyConnect() {
	ctx := context.Background()
	res, err := keyed{}.Connect(ctx, sdk.ConnectRequest{Input: map[string]string{"api_key": "k-123"}})
	fmt.Println(res.AuthorizeURL == "", res.Linkage.ExternalAccountID, res.Linkage.Credentials["api_key"], err)

	_, err = keyed{}.Connect(ctx, sdk.ConnectRequest{})
	fmt.Println(sdk.KindOf(err), err)
	// Output:
	// true acct-7 k-123 <nil>
	// invalid_input invalid_input: an api_key is required (provider app: settings, API key)
}

// Error kinds survive wrapping with %w, so add context freely. An error that is not an
// *sdk.Error at all counts as temporary: the host retries it.
func Example_errorKinds() {
	base := sdk.Reauth("token refresh rejected (HTTP %d)", 400)
	wrapped := fmt.Errorf("list devices: %w", base)
	fmt.Println(sdk.KindOf(wrapped), sdk.IsKind(wrapped, sdk.KindReauth))

	fmt.Println(sdk.KindOf(errors.New("connection reset by peer")))
	fmt.Println(sdk.KindOf(sdk.Permanent("malformed payload")))
	fmt.Println(sdk.KindOf(sdk.Unsupported("webhooks")))
	// Output:
	// reauth_required true
	// temporary
	// permanent
	// unsupported
}

// pollingAdapter shows the two things every poller must get right: the cursor and
// refreshed credentials.
type pollingAdapter struct {
	keyed
	now func() time.Time
	// measurements stands in for the provider's API: device id → timestamped pH values.
	measurements map[string][]struct {
		at time.Time
		ph float64
	}
}

// PollReadings returns readings newer than the cursor. Here the cursor is the RFC 3339
// time of the newest reading already returned; it is opaque to the host, which stores it
// per account and hands it back on the next poll ("" the first time).
func (p pollingAdapter) PollReadings(_ context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	var since time.Time
	if req.Cursor != "" {
		t, err := time.Parse(time.RFC3339Nano, req.Cursor)
		if err != nil {
			// An unreadable cursor restarts from the beginning: the host ignores readings
			// it already has, while failing would wedge the account forever.
			t = time.Time{}
		}
		since = t
	}
	res := sdk.PollResult{NextCursor: req.Cursor}
	creds := req.Account.Credentials
	if exp, _ := time.Parse(time.RFC3339, creds["expiry"]); p.now().After(exp) {
		// Refresh upstream, then hand the whole new set back: the host stores it, and
		// the plugin keeps nothing between calls.
		res.RefreshedCredentials = sdk.Credentials{
			"access_token":  "new-access",
			"refresh_token": creds["refresh_token"],
			"expiry":        p.now().Add(time.Hour).UTC().Format(time.RFC3339),
		}
	}
	newest := since
	for device, ms := range p.measurements {
		for _, m := range ms {
			if !m.at.After(since) {
				continue
			}
			res.Readings = append(res.Readings, sdk.Reading{
				ProviderDeviceID: device, Metric: metric.PH, Value: m.ph, RecordedAt: m.at,
			})
			if m.at.After(newest) {
				newest = m.at
			}
		}
	}
	if newest.After(since) {
		res.NextCursor = newest.UTC().Format(time.RFC3339Nano)
	}
	return res, nil
}

// Polling twice: the second poll, given the first poll's cursor, returns nothing new.
// Expired credentials are refreshed and returned for the host to store.
func ExamplePoller() {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := pollingAdapter{now: func() time.Time { return t0.Add(2 * time.Hour) }}
	p.measurements = map[string][]struct {
		at time.Time
		ph float64
	}{"dev-1": {{t0, 7.4}, {t0.Add(time.Hour), 7.5}}}
	acct := sdk.Account{ID: "42", Credentials: sdk.Credentials{
		"access_token": "old", "refresh_token": "r", "expiry": t0.Format(time.RFC3339),
	}}

	first, _ := p.PollReadings(context.Background(), sdk.PollRequest{Account: acct})
	fmt.Println(len(first.Readings), first.NextCursor, first.RefreshedCredentials["access_token"])

	acct.Credentials = first.RefreshedCredentials // what the host does
	second, _ := p.PollReadings(context.Background(), sdk.PollRequest{Account: acct, Cursor: first.NextCursor})
	fmt.Println(len(second.Readings), second.NextCursor, second.RefreshedCredentials == nil)
	// Output:
	// 2 2026-01-01T13:00:00Z new-access
	// 0 2026-01-01T13:00:00Z true
}

// A call that refreshed the account's tokens and then failed must still hand the new
// tokens back: with rotating refresh tokens the old ones are already revoked. The error
// keeps its kind; the host stores the credentials, then handles the error as usual.
func ExampleWithRefreshedCredentials() {
	fresh := sdk.Credentials{"access_token": "new", "refresh_token": "rotated"}
	// The token refresh worked, then the device list hit the provider's quota.
	err := sdk.WithRefreshedCredentials(sdk.Temporary("list devices: quota exceeded (HTTP 429)"), fresh)

	creds, ok := sdk.RefreshedCredentialsOf(err)
	fmt.Println(sdk.KindOf(err), ok, creds["refresh_token"])
	fmt.Println(err)
	// Output:
	// temporary true rotated
	// temporary: list devices: quota exceeded (HTTP 429)
}
