// Command faultyplugin is a test provider ("faulty") for the ingestion tests. It verifies
// Standard Webhooks like the generic provider, and misbehaves on demand so the tests can
// reach every branch of the pipeline: readings whose values JSON cannot carry (NaN,
// ±Inf, spelled as strings), temporary and permanent parse errors, crashes after
// verification, and switch files (named in its provider settings) that make parsing or
// verification fail while they exist — state a stateless plugin can share with a test.
// It imports only sdk, like any third-party plugin.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/signature"
)

// Body is the payload shape.
type Body struct {
	DeviceID string    `json:"device_id"`
	Readings []Reading `json:"readings"`
	// Fail makes Webhook fail: "temporary", "permanent", "crash" (exit the process),
	// "sleep" (outlast the deadline).
	Fail string `json:"fail,omitempty"`
	// Account is the provider-side account the payload names (ProviderAccountID).
	Account string `json:"account,omitempty"`
	// Repeat answers the readings this many times over; DeliveryIDBytes answers a
	// delivery id of that many bytes: a plugin answering more than the host accepts.
	Repeat          int `json:"repeat,omitempty"`
	DeliveryIDBytes int `json:"delivery_id_bytes,omitempty"`
	// CommandUpdates answers this many command updates (delivered), as a message
	// naming that many command ids would.
	CommandUpdates int `json:"command_updates,omitempty"`
}

// Reading carries its value as a string so NaN and Inf survive JSON.
type Reading struct {
	Metric     string `json:"metric"`
	Value      string `json:"value"`
	Unit       string `json:"unit,omitempty"`
	RecordedAt string `json:"recorded_at,omitempty"`
	// RawBytes answers a raw payload of that many bytes.
	RawBytes int `json:"raw_bytes,omitempty"`
}

type adapter struct {
	sdk.UnsupportedAdapter
	secret   string
	settings map[string]string
}

func (a *adapter) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{
		ID: "faulty", Version: "0.0.1", ProtocolVersion: sdk.ProtocolVersion,
		// api_key, with a webhook secret of the account's own in its credentials: the
		// provider kind whose accounts get their own URL although they are not
		// webhook_secret ones (a cloud that signs each user's callbacks).
		Capabilities:  sdk.Capabilities{Connect: sdk.ConnectAPIKey, Webhook: true, Poll: true},
		ConnectInputs: []sdk.Option{{Key: "api_key", Secret: true, Required: true}},
	}, nil
}

// Connect links the account named by its API key, with a fresh webhook secret of its
// own, as a provider cloud that signs each user's callbacks would hand one out.
func (a *adapter) Connect(_ context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error) {
	key := req.Input["api_key"]
	if key == "" {
		return sdk.ConnectResult{}, sdk.InvalidInput("api_key is required")
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return sdk.ConnectResult{}, sdk.Temporary("no randomness: %v", err)
	}
	return sdk.ConnectResult{Linkage: &sdk.Linkage{
		ExternalAccountID: "faulty-" + key, DisplayName: "Faulty " + key,
		Credentials: sdk.Credentials{"api_key": key, "webhook_secret": "whsec_" + base64.StdEncoding.EncodeToString(raw)},
	}}, nil
}

// Subscribe registers the account's own webhook URL with the fake provider cloud named
// by setting "subscribe_url" (a POST of the URL); Unsubscribe removes it (a DELETE).
// Without the setting there is nothing to register. Like a cloud that signs each
// user's callbacks, registering needs the account's webhook secret: credentials without
// one are refused.
func (a *adapter) Subscribe(ctx context.Context, req sdk.SubscribeRequest) error {
	if a.settings["subscribe_url"] != "" && req.Account.Credentials["webhook_secret"] == "" {
		return sdk.Permanent("no webhook secret in the account's credentials to register the URL with")
	}
	return a.subscription(ctx, http.MethodPost, req)
}

func (a *adapter) Unsubscribe(ctx context.Context, req sdk.SubscribeRequest) error {
	return a.subscription(ctx, http.MethodDelete, req)
}

func (a *adapter) subscription(ctx context.Context, method string, req sdk.SubscribeRequest) error {
	u := a.settings["subscribe_url"]
	if u == "" {
		return nil
	}
	r, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(req.AccountWebhookURL))
	if err != nil {
		return sdk.Permanent("subscribe_url: %v", err)
	}
	r.Header.Set("X-Api-Key", req.Account.Credentials["api_key"])
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return sdk.Temporary("subscription service unreachable")
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		// Relays what the service said, as plugins do for the user to act on: however
		// long (the host caps what it shows).
		said, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if len(said) > 0 {
			return sdk.Temporary("subscription service answered %d: %s", resp.StatusCode, said)
		}
		return sdk.Temporary("subscription service answered %d", resp.StatusCode)
	}
	return nil
}

// DiscoverDevices lists the one device every faulty account has, "d1". With setting
// "discover_refresh" set it refreshes the tokens too, answering them alone (api_key and
// "token" = "d" + the api_key), as a plugin that never echoes the host's keys does;
// setting "discover_token_bytes" makes that token so many bytes longer.
func (a *adapter) DiscoverDevices(_ context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	res := sdk.DiscoverResult{Devices: []sdk.Device{{ProviderDeviceID: "d1", Name: "Faulty probe", Verified: true}}}
	if a.settings["discover_refresh"] != "" {
		key := req.Account.Credentials["api_key"]
		res.RefreshedCredentials = sdk.Credentials{"api_key": key, "token": "d" + key + padding(a.settings["discover_token_bytes"])}
	}
	return res, nil
}

func (a *adapter) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	a.secret = req.Secrets["webhook_secret"]
	a.settings = req.Settings
	return nil
}

func exists(path string) bool {
	if path == "" {
		return false
	}
	_, err := os.Stat(path)
	return err == nil
}

func (a *adapter) VerifyWebhook(_ context.Context, req sdk.WebhookRequest) error {
	if exists(a.settings["verify_unavailable_file"]) {
		return sdk.Temporary("verification keys unavailable")
	}
	secret := a.secret
	if req.Account != nil {
		secret = req.AccountSecret
	}
	if secret == "" {
		return sdk.Rejected("no secret applies")
	}
	v, err := signature.NewStandardWebhooks(secret)
	if err != nil {
		return sdk.Rejected("unusable secret")
	}
	return signature.VerifyRequest(v, req)
}

func (a *adapter) Webhook(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	if exists(a.settings["crash_file"]) {
		os.Exit(3)
	}
	if exists(a.settings["fail_file"]) {
		return sdk.WebhookResult{}, sdk.Temporary("fail file present")
	}
	var b Body
	if err := json.Unmarshal(req.Body, &b); err != nil {
		return sdk.WebhookResult{}, sdk.Permanent("malformed: %v", err)
	}
	switch b.Fail {
	case "temporary":
		return sdk.WebhookResult{}, sdk.Temporary("asked to fail")
	case "permanent":
		return sdk.WebhookResult{}, sdk.Permanent("asked to fail for good")
	case "crash":
		os.Exit(3)
	case "sleep":
		time.Sleep(time.Minute)
	}
	res := sdk.WebhookResult{DeliveryID: req.Headers.Get("webhook-id"), ProviderAccountID: b.Account}
	for _, r := range b.Readings {
		v, err := strconv.ParseFloat(r.Value, 64)
		if err != nil {
			return sdk.WebhookResult{}, sdk.Permanent("value %q", r.Value)
		}
		var at time.Time
		if r.RecordedAt != "" {
			if at, err = time.Parse(time.RFC3339Nano, r.RecordedAt); err != nil {
				return sdk.WebhookResult{}, sdk.Permanent("recorded_at %q", r.RecordedAt)
			}
		}
		for range max(b.Repeat, 1) {
			res.Readings = append(res.Readings, sdk.Reading{
				ProviderDeviceID: b.DeviceID, Metric: r.Metric, Value: v, Unit: r.Unit, RecordedAt: at,
				Timed: r.RecordedAt != "", RawPayload: []byte(strings.Repeat("r", r.RawBytes)),
			})
		}
	}
	for i := range b.CommandUpdates {
		res.CommandUpdates = append(res.CommandUpdates, sdk.CommandUpdate{CommandID: "cmd_" + strconv.Itoa(i), Status: sdk.CommandDelivered})
	}
	if b.DeliveryIDBytes > 0 {
		res.DeliveryID = strings.Repeat("d", b.DeliveryIDBytes)
	}
	return res, nil
}

// PollReadings answers from the account's credentials: "readings" is a JSON list of
// Reading for device "device_id", "fail" a kind to fail with ("temporary", "reauth",
// or "refreshed_temporary": rotate "token" by appending "+", then fail temporarily with
// the rotated credentials on the error, like a provider answering 503 after a refresh;
// "spent_temporary" and "spent_reauth" fail with the cursor + "s" on the error, like a
// poll recording the quota it spent before failing, "cursor_bytes" more "p"s after it).
// The cursor counts polls; refreshed credentials carry "token" = "t" + the new cursor.
// With "rotating" set the token rotates like a provider that revokes the old pair on
// refresh: a poll whose "token" is not the one the previous poll handed back fails as
// reauth. With "readings_once" set the readings come only on the first poll (an
// empty cursor); later polls find nothing new, the commonest poll of all. "repeat"
// answers each reading that many times over (a second apart), and a reading's
// "raw_bytes" gives it a raw payload of that many bytes: a plugin answering more than
// the host accepts. While the file named by setting "hold_file" exists, a poll
// (having rotated the tokens, so to speak) creates hold_file + ".polling" and waits
// before answering: an upstream slow enough for the host to stop meanwhile. A poll
// whose call ends first fails temporarily, its answer lost.
func (a *adapter) PollReadings(ctx context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	creds := req.Account.Credentials
	if creds["rotating"] != "" && req.Cursor != "" && creds["token"] != "t"+req.Cursor {
		return sdk.PollResult{}, sdk.Reauth("token %q was revoked by a refresh", creds["token"])
	}
	if hold := a.settings["hold_file"]; exists(hold) {
		if err := os.WriteFile(hold+".polling", nil, 0o600); err != nil {
			return sdk.PollResult{}, sdk.Permanent("hold_file: %v", err)
		}
		for exists(hold) {
			select {
			case <-ctx.Done():
				return sdk.PollResult{}, sdk.Temporary("held until the call ended: %v", ctx.Err())
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	switch creds["fail"] {
	case "temporary":
		return sdk.PollResult{}, sdk.Temporary("upstream down")
	case "reauth":
		return sdk.PollResult{}, sdk.Reauth("token revoked")
	case "refreshed_temporary":
		rotated := sdk.Credentials{}
		for k, v := range creds {
			rotated[k] = v
		}
		rotated["token"] = creds["token"] + "+" + padding(creds["token_bytes"])
		return sdk.PollResult{}, sdk.WithRefreshedCredentials(sdk.Temporary("upstream 503 after refresh"), rotated)
	case "spent_temporary":
		return sdk.PollResult{}, sdk.WithNextCursor(sdk.Temporary("upstream 503 after some requests"), req.Cursor+"s"+padding(creds["cursor_bytes"]))
	case "spent_reauth":
		return sdk.PollResult{}, sdk.WithNextCursor(sdk.Reauth("token revoked after some requests"), req.Cursor+"s")
	}
	if exists(a.settings["fail_file"]) {
		return sdk.PollResult{}, sdk.Temporary("fail file present")
	}
	n, _ := strconv.Atoi(req.Cursor)
	n++
	res := sdk.PollResult{NextCursor: strconv.Itoa(n), RefreshedCredentials: sdk.Credentials{}}
	if s := creds["cursor"]; s != "" {
		res.NextCursor = s
	}
	res.NextCursor += padding(creds["cursor_bytes"])
	for k, v := range creds {
		res.RefreshedCredentials[k] = v
	}
	res.RefreshedCredentials["token"] = "t" + strconv.Itoa(n) + padding(creds["token_bytes"])
	var rs []Reading
	if s := creds["readings"]; s != "" && (creds["readings_once"] == "" || req.Cursor == "") {
		if err := json.Unmarshal([]byte(s), &rs); err != nil {
			return sdk.PollResult{}, sdk.Permanent("readings credential: %v", err)
		}
	}
	// test_sessions: sdk.TestSession values as JSON, returned on every poll as a
	// provider that lists its latest water tests would.
	if s := creds["test_sessions"]; s != "" {
		if err := json.Unmarshal([]byte(s), &res.TestSessions); err != nil {
			return sdk.PollResult{}, sdk.Permanent("test_sessions credential: %v", err)
		}
	}
	repeat, _ := strconv.Atoi(creds["repeat"])
	for _, r := range rs {
		v, _ := strconv.ParseFloat(r.Value, 64)
		var at time.Time
		if r.RecordedAt != "" {
			at, _ = time.Parse(time.RFC3339Nano, r.RecordedAt)
		}
		for i := range max(repeat, 1) {
			// Each copy a second earlier, so that each would be a row of its own.
			res.Readings = append(res.Readings, sdk.Reading{
				ProviderDeviceID: creds["device_id"], Metric: r.Metric, Value: v, Unit: r.Unit,
				RecordedAt: at.Add(-time.Duration(i) * time.Second), Timed: r.RecordedAt != "",
				RawPayload: []byte(strings.Repeat("r", r.RawBytes)),
			})
		}
	}
	return res, nil
}

// padding is a string of n (a decimal) bytes, "" for none: with "token_bytes" in the
// credentials the tokens a poll refreshes are that much longer, with "cursor_bytes" its
// cursor ("cursor" replaces its count): an upstream answering a megabyte access token, a
// plugin a megabyte cursor.
func padding(n string) string {
	k, _ := strconv.Atoi(n)
	return strings.Repeat("p", max(k, 0))
}

func main() { sdk.Serve(&adapter{}) }
