package sdktest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
	"github.com/poolhost/poolhost/sdk/judge"
)

// Fixtures are the provider-specific inputs of the conformance checks: how to configure
// the plugin and real signed webhooks. Everything is optional; a check whose fixture is
// missing is skipped, and the checks that need no fixture (unsigned and garbage
// webhooks are rejected, malformed bodies fail cleanly) always run.
//
// The same fixtures load from a language-neutral directory ([LoadFixtures]) so that
// `poolhost plugins test BINARY --fixtures DIR` runs the checks against a plugin written
// in any language:
//
//	DIR/configure.json               {"settings": {"k": "v"}, "secrets": {"k": "v"}}
//	DIR/webhooks/valid/*.json        deliveries the plugin must accept
//	DIR/webhooks/tampered/*.json     a valid delivery with its body changed: rejected
//	DIR/webhooks/wrong_secret/*.json signed with another secret: rejected
//	DIR/webhooks/stale/*.json        signed too long before received_at: rejected
//	DIR/malformed/*                  extra bodies for the malformed-body pass (raw bytes)
//	DIR/poll.json                    an account to poll, at the upstream configure.json names
//	DIR/refresh.json                 a call whose access token has expired there: it must refresh
//	DIR/commands.json                SendCommand calls there and the outcome each must have
//
// One webhook file:
//
//	{
//	  "headers": {"webhook-id": ["msg_1"], "webhook-signature": ["v1,…"]},
//	  "body": "{\"event\":\"readings.created\"}",   // or "body_base64": "…"
//	  "received_at": "2026-01-02T03:04:05Z",        // the host's receive time; verify against it
//	  "account_secret": "whsec_…"                   // set: an account-scoped delivery
//	}
//
// poll.json is [Fixtures.Poll] for a plugin in any language: the account the checks
// poll, linked at the fake provider your configure.json points the plugin at (which you
// start, with readings waiting, before the checks run), and its cursor:
//
//	{"account": {"id": "1", "external_account_id": "acct-1", "credentials": {"api_key": "…"}}, "cursor": ""}
//
// refresh.json is [Fixtures.Refresh]: a poll (poll.json's shape) or a discovery of an
// account whose access token has expired at that fake, so the call must refresh it and
// hand the new tokens back. Set one of "poll" and "discover":
//
//	{"discover": {"account": {"id": "1", "external_account_id": "acct-1", "credentials": {"access_token": "…", "refresh_token": "…"}}}}
//
// commands.json is [Fixtures.Commands], a list of SendCommand calls at that fake and the
// outcome each must come back as ([CommandCase.Want]):
//
//	[{"name": "pump-accepted", "account": {…}, "provider_device_id": "pump-1", "command": "pump.set",
//	  "params": {"on": true}, "command_id": "cmd-1", "want": "sent"}]
//
// "channel" and "expires_at" (RFC 3339) are optional.
type Fixtures struct {
	// Configure is sent once before the checks; nil sends empty maps.
	Configure *sdk.ConfigureRequest
	// Valid deliveries must be accepted (verified and parsed, readings well formed).
	Valid []Webhook
	// Tampered, WrongSecret and Stale deliveries must be rejected (KindRejected).
	Tampered, WrongSecret, Stale []Webhook
	// Malformed adds bodies to the built-in malformed corpus.
	Malformed [][]byte
	// Refresh, when set, checks token refresh: it returns an account whose access token
	// has expired (against your fake provider) and a call that must refresh it; the call
	// must hand back RefreshedCredentials. See the template's conformance test; in a
	// fixture directory, refresh.json.
	Refresh func() (RefreshCall, error)
	// Poll, for a plugin that declares poll capability, returns a first poll against your
	// fake provider: an account linked there, with readings waiting, and its cursor (""
	// for a first poll). The kit polls it as the host does — each NextCursor and any
	// RefreshedCredentials fed back — until a poll finds nothing new, and once more; every
	// answer is judged as the host judges it, and none may repeat a reading already
	// returned. See the template's conformance test.
	Poll func() (sdk.PollRequest, error)
	// Commands, for a plugin that declares write capability, are SendCommand calls
	// against your fake provider and what each must come back as: the check proves the
	// plugin maps the provider's answers to the error kinds the host acts on. In a
	// fixture directory, commands.json.
	Commands []CommandCase
	// Caps and Window are what valid deliveries' answers are judged against (sdk/judge,
	// as the host judges them); zero values are the host's defaults. Set them to your
	// operators' plugins { max_* } and ingest { max_future_skew, max_past_age } if those
	// differ.
	Caps   judge.Caps
	Window judge.Window
}

// CommandCase is one SendCommand call and the outcome it must have.
type CommandCase struct {
	Name    string
	Request sdk.CommandRequest
	// Want is "sent" (or "delivered", "succeeded": accepted), "permanent", "temporary",
	// "unauthorized" (a refusal of that kind: nothing was sent) or "unknown" (an error
	// wrapping sdk.ErrOutcomeUnknown).
	Want string
}

// RefreshCall is a call that must come back with refreshed credentials.
type RefreshCall struct {
	// Poll or Discover (one of them) is issued with the adapter.
	Poll     *sdk.PollRequest
	Discover *sdk.DiscoverRequest
}

// Webhook is one fixture delivery.
type Webhook struct {
	Name          string // for messages; the file name when loaded
	Headers       http.Header
	Body          []byte
	ReceivedAt    time.Time // zero: now
	AccountSecret string    // set: delivered to an account-scoped URL with this secret
}

// Request is the delivery as the host hands it to the plugin.
func (w Webhook) Request() sdk.WebhookRequest {
	req := sdk.WebhookRequest{Headers: w.Headers.Clone(), Body: append([]byte(nil), w.Body...), ReceivedAt: w.ReceivedAt}
	if req.Headers == nil {
		req.Headers = http.Header{}
	}
	if req.ReceivedAt.IsZero() {
		req.ReceivedAt = time.Now()
	}
	if w.AccountSecret != "" {
		req.Account = &sdk.Account{ID: "sdktest-account", ExternalAccountID: "sdktest"}
		req.AccountSecret = w.AccountSecret
	}
	return req
}

// webhookFile is the on-disk shape of a Webhook.
type webhookFile struct {
	Headers       map[string][]string `json:"headers"`
	Body          *string             `json:"body"`
	BodyBase64    string              `json:"body_base64,omitempty"`
	ReceivedAt    string              `json:"received_at,omitempty"`
	AccountSecret string              `json:"account_secret,omitempty"`
}

// accountFile is the on-disk shape of an sdk.Account.
type accountFile struct {
	ID                string            `json:"id"`
	ExternalAccountID string            `json:"external_account_id"`
	Credentials       map[string]string `json:"credentials"`
}

func (a accountFile) account() sdk.Account {
	return sdk.Account{ID: a.ID, ExternalAccountID: a.ExternalAccountID, Credentials: sdk.Credentials(maps.Clone(a.Credentials))}
}

// pollFile is the on-disk shape of a Poll fixture.
type pollFile struct {
	Account accountFile `json:"account"`
	Cursor  string      `json:"cursor"`
}

// refreshFile is the on-disk shape of a Refresh fixture: one of the two calls.
type refreshFile struct {
	Poll     *pollFile `json:"poll"`
	Discover *struct {
		Account accountFile `json:"account"`
	} `json:"discover"`
}

// commandFile is the on-disk shape of a CommandCase.
type commandFile struct {
	Name             string         `json:"name"`
	Account          accountFile    `json:"account"`
	ProviderDeviceID string         `json:"provider_device_id"`
	Channel          string         `json:"channel"`
	Command          string         `json:"command"`
	Params           map[string]any `json:"params"`
	CommandID        string         `json:"command_id"`
	ExpiresAt        string         `json:"expires_at"`
	Want             string         `json:"want"`
}

// wants are the outcomes a CommandCase can name (commandOutcome's answers).
var wants = []string{"sent", "delivered", "succeeded", "permanent", "temporary", "unauthorized", "unknown"}

type configureFile struct {
	Settings map[string]string `json:"settings"`
	Secrets  map[string]string `json:"secrets"`
}

// LoadFixtures reads a fixture directory (layout in [Fixtures]). A missing part is
// simply absent; a present but unreadable one is an error.
func LoadFixtures(dir string) (Fixtures, error) {
	var f Fixtures
	if _, err := os.Stat(dir); err != nil {
		return f, fmt.Errorf("fixtures: %w", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "configure.json")); err == nil {
		var c configureFile
		if err := strictJSON(b, &c); err != nil {
			return f, fmt.Errorf("fixtures: configure.json: %w", err)
		}
		f.Configure = &sdk.ConfigureRequest{Settings: c.Settings, Secrets: c.Secrets}
	} else if !errors.Is(err, os.ErrNotExist) {
		return f, fmt.Errorf("fixtures: %w", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "poll.json")); err == nil {
		var pf pollFile
		if err := strictJSON(b, &pf); err != nil {
			return f, fmt.Errorf("fixtures: poll.json: %w", err)
		}
		f.Poll = func() (sdk.PollRequest, error) {
			return sdk.PollRequest{Cursor: pf.Cursor, Account: pf.Account.account()}, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return f, fmt.Errorf("fixtures: %w", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "refresh.json")); err == nil {
		if f.Refresh, err = loadRefresh(b); err != nil {
			return f, fmt.Errorf("fixtures: refresh.json: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return f, fmt.Errorf("fixtures: %w", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "commands.json")); err == nil {
		if f.Commands, err = loadCommands(b); err != nil {
			return f, fmt.Errorf("fixtures: commands.json: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return f, fmt.Errorf("fixtures: %w", err)
	}
	for _, set := range []struct {
		sub string
		dst *[]Webhook
	}{{"valid", &f.Valid}, {"tampered", &f.Tampered}, {"wrong_secret", &f.WrongSecret}, {"stale", &f.Stale}} {
		files, err := listDir(filepath.Join(dir, "webhooks", set.sub), ".json")
		if err != nil {
			return f, err
		}
		for _, p := range files {
			w, err := loadWebhook(p)
			if err != nil {
				return f, err
			}
			*set.dst = append(*set.dst, w)
		}
	}
	files, err := listDir(filepath.Join(dir, "malformed"), "")
	if err != nil {
		return f, err
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			return f, fmt.Errorf("fixtures: %w", err)
		}
		f.Malformed = append(f.Malformed, b)
	}
	return f, nil
}

func loadRefresh(b []byte) (func() (RefreshCall, error), error) {
	var rf refreshFile
	if err := strictJSON(b, &rf); err != nil {
		return nil, err
	}
	switch {
	case rf.Poll != nil && rf.Discover != nil:
		return nil, errors.New(`set "poll" or "discover", not both`)
	case rf.Poll != nil:
		return func() (RefreshCall, error) {
			return RefreshCall{Poll: &sdk.PollRequest{Cursor: rf.Poll.Cursor, Account: rf.Poll.Account.account()}}, nil
		}, nil
	case rf.Discover != nil:
		return func() (RefreshCall, error) {
			return RefreshCall{Discover: &sdk.DiscoverRequest{Account: rf.Discover.Account.account()}}, nil
		}, nil
	}
	return nil, errors.New(`set "poll" or "discover": the call that must refresh the account's tokens`)
}

func loadCommands(b []byte) ([]CommandCase, error) {
	var cfs []commandFile
	if err := strictJSON(b, &cfs); err != nil {
		return nil, err
	}
	out := make([]CommandCase, 0, len(cfs))
	seen := map[string]bool{}
	for i, cf := range cfs {
		switch {
		case cf.Name == "":
			return nil, fmt.Errorf("case %d: no name", i)
		case seen[cf.Name]:
			return nil, fmt.Errorf("case %q is listed twice", cf.Name)
		case !slices.Contains(wants, cf.Want):
			return nil, fmt.Errorf("case %q: want %q, not one of %s", cf.Name, cf.Want, strings.Join(wants, ", "))
		}
		seen[cf.Name] = true
		req := sdk.CommandRequest{Account: cf.Account.account(), ProviderDeviceID: cf.ProviderDeviceID, Channel: cf.Channel,
			Command: cf.Command, Params: command.Params(cf.Params), CommandID: cf.CommandID}
		if cf.ExpiresAt != "" {
			var err error
			if req.ExpiresAt, err = time.Parse(time.RFC3339Nano, cf.ExpiresAt); err != nil {
				return nil, fmt.Errorf("case %q: expires_at: %w", cf.Name, err)
			}
		}
		out = append(out, CommandCase{Name: cf.Name, Request: req, Want: cf.Want})
	}
	return out, nil
}

func listDir(dir, suffix string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fixtures: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), suffix) && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

func loadWebhook(path string) (Webhook, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Webhook{}, fmt.Errorf("fixtures: %w", err)
	}
	var wf webhookFile
	if err := strictJSON(b, &wf); err != nil {
		return Webhook{}, fmt.Errorf("fixtures: %s: %w", path, err)
	}
	w := Webhook{Name: filepath.Base(path), Headers: http.Header{}, AccountSecret: wf.AccountSecret}
	for k, vs := range wf.Headers {
		for _, v := range vs {
			w.Headers.Add(k, v)
		}
	}
	switch {
	case wf.Body != nil && wf.BodyBase64 != "":
		return Webhook{}, fmt.Errorf("fixtures: %s: set body or body_base64, not both", path)
	case wf.Body != nil:
		w.Body = []byte(*wf.Body)
	default:
		if w.Body, err = base64.StdEncoding.DecodeString(wf.BodyBase64); err != nil {
			return Webhook{}, fmt.Errorf("fixtures: %s: body_base64: %w", path, err)
		}
	}
	if wf.ReceivedAt != "" {
		if w.ReceivedAt, err = time.Parse(time.RFC3339Nano, wf.ReceivedAt); err != nil {
			return Webhook{}, fmt.Errorf("fixtures: %s: received_at: %w", path, err)
		}
	}
	return w, nil
}

// WriteWebhook writes w to path in the fixture file format, so a Go test (or a script)
// can record fixtures that every language's plugin is then tested with.
func WriteWebhook(path string, w Webhook) error {
	body := string(w.Body)
	wf := webhookFile{Headers: w.Headers, Body: &body, AccountSecret: w.AccountSecret}
	if !w.ReceivedAt.IsZero() {
		wf.ReceivedAt = w.ReceivedAt.UTC().Format(time.RFC3339Nano)
	}
	b, err := json.MarshalIndent(wf, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// strictJSON refuses unknown fields, so a misspelt key in a fixture is an error rather
// than a silently weaker test.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
