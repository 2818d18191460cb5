// Command testplugin is a poolhost plugin that misbehaves on request, for the plugin
// manager's real-process tests. Its provider id is its file name without the
// "poolhost-provider-" prefix, so one build serves any number of providers.
//
// Describe can be overridden by a JSON file next to the binary (<binary>.describe.json),
// since Describe runs before any setting arrives. Settings delivered by Configure:
//
//	env_dump=<path>     write os.Environ() to path as a JSON array
//	settings_dump=<p>   write the settings Configure received to p as a JSON object
//	stderr_line=<text>  write text and a newline to stderr, as a plugin's logger would
//	hang_file=<path>    Health blocks forever while path exists; so does SendCommand,
//	                    once it has written <path>.sending (the send is with the plugin)
//	crash_on=<method>   exit(3) when that method is called ("connect", "health", ...)
//	connect_delay=<d>   Connect waits d (honouring the context) before answering
//	fail_configure=<k>  Configure fails with that sdk error kind ("permanent", "temporary")
//	exit_after=<d>      exit(4) d after Configure
//	configure_delay=<d> Configure waits d (honouring the context) before answering
//	configure_gate=<p>  Configure waits (honouring the context) while path p exists
//	poll_answer=<path>  PollReadings answers the sdk.PollResult in the JSON file at path,
//	                    read on every poll
//
// Connect's input fail_bytes=<n> fails it temporarily with a message of n bytes more,
// as a plugin relaying what its provider's cloud answered.
package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/poolhost/poolhost/sdk"
)

type adapter struct {
	id string

	mu       sync.Mutex
	settings map[string]string
	secrets  map[string]string
}

func (a *adapter) setting(k string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.settings[k]
}

func (a *adapter) maybeCrash(method string) {
	if a.setting("crash_on") == method {
		os.Exit(3)
	}
}

type describeOverride struct {
	ID               *string      `json:"id"`
	Version          *string      `json:"version"`
	ProtocolVersion  *int         `json:"protocol_version"`
	Connect          *string      `json:"connect"`
	Webhook          *bool        `json:"webhook"`
	Poll             *bool        `json:"poll"`
	Write            *bool        `json:"write"`
	RequiredSettings []string     `json:"required_settings"`
	RequiredSecrets  []string     `json:"required_secrets"`
	Settings         []sdk.Option `json:"settings"`
	ConnectInputs    []sdk.Option `json:"connect_inputs"`
}

func (a *adapter) Describe(context.Context) (sdk.Description, error) {
	d := sdk.Description{
		ID:              a.id,
		Version:         "0.0.1-test",
		ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{
			Connect: sdk.ConnectAPIKey,
			Webhook: true,
			Poll:    true,
		},
	}
	exe, err := os.Executable()
	if err != nil {
		return d, err
	}
	b, err := os.ReadFile(exe + ".describe.json")
	if os.IsNotExist(err) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	var o describeOverride
	if err := json.Unmarshal(b, &o); err != nil {
		return d, sdk.Permanent("bad override: %v", err)
	}
	if o.ID != nil {
		d.ID = *o.ID
	}
	if o.Version != nil {
		d.Version = *o.Version
	}
	if o.ProtocolVersion != nil {
		d.ProtocolVersion = *o.ProtocolVersion
	}
	if o.Connect != nil {
		d.Capabilities.Connect = sdk.ConnectKind(*o.Connect)
	}
	if o.Webhook != nil {
		d.Capabilities.Webhook = *o.Webhook
	}
	if o.Poll != nil {
		d.Capabilities.Poll = *o.Poll
	}
	if o.Write != nil {
		d.Capabilities.Write = *o.Write
	}
	d.RequiredSettings, d.RequiredSecrets, d.Settings = o.RequiredSettings, o.RequiredSecrets, o.Settings
	d.ConnectInputs = o.ConnectInputs
	return d, nil
}

func (a *adapter) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	a.mu.Lock()
	a.settings, a.secrets = req.Settings, req.Secrets
	a.mu.Unlock()
	a.maybeCrash("configure")
	if d, err := time.ParseDuration(req.Settings["configure_delay"]); err == nil {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if gate := req.Settings["configure_gate"]; gate != "" {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := os.Stat(gate); err != nil {
				break
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	switch req.Settings["fail_configure"] {
	case "":
	case "permanent":
		return sdk.Permanent("configure refused")
	default:
		return sdk.Temporary("configure failed")
	}
	if line := req.Settings["stderr_line"]; line != "" {
		// fd 2 itself: go-plugin points os.Stderr at its stdio stream after start, while
		// a plugin's logger (and any non-Go plugin) writes to the process's stderr.
		os.NewFile(2, "stderr").WriteString(line + "\n")
	}
	if p := req.Settings["settings_dump"]; p != "" {
		b, err := json.Marshal(req.Settings)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return err
		}
	}
	if p := req.Settings["env_dump"]; p != "" {
		b, err := json.Marshal(os.Environ())
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return err
		}
	}
	if s := req.Settings["exit_after"]; s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return sdk.Permanent("exit_after: %v", err)
		}
		time.AfterFunc(d, func() { os.Exit(4) })
	}
	return nil
}

func (a *adapter) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error) {
	a.maybeCrash("connect")
	if s := a.setting("connect_delay"); s != "" {
		d, _ := time.ParseDuration(s)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return sdk.ConnectResult{}, sdk.Temporary("connect: %v", ctx.Err())
		}
	}
	if u := a.setting("authorize_url"); u != "" {
		return sdk.ConnectResult{AuthorizeURL: u}, nil // an OAuth2 provider's answer
	}
	key := req.Input["api_key"]
	if key == "" {
		return sdk.ConnectResult{}, sdk.InvalidInput("api_key is required")
	}
	if n, _ := strconv.Atoi(req.Input["fail_bytes"]); n > 0 {
		// A plugin relaying what its provider's cloud answered, however long.
		return sdk.ConnectResult{}, sdk.Temporary("upstream said: %s", strings.Repeat("x", n))
	}
	return sdk.ConnectResult{Linkage: &sdk.Linkage{
		ExternalAccountID: "acct-" + key,
		DisplayName:       a.id + " account",
		Credentials:       sdk.Credentials{"api_key": key},
	}}, nil
}

func (a *adapter) Callback(context.Context, sdk.CallbackRequest) (sdk.Linkage, error) {
	a.maybeCrash("callback")
	return sdk.Linkage{}, sdk.Unsupported("callback")
}

func (a *adapter) DiscoverDevices(_ context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	a.maybeCrash("discover")
	if req.Account.Credentials["api_key"] == "" {
		return sdk.DiscoverResult{}, sdk.Reauth("no api key")
	}
	return sdk.DiscoverResult{Devices: []sdk.Device{{ProviderDeviceID: "dev-1", Name: "Pool sensor"}}}, nil
}

func (a *adapter) VerifyWebhook(_ context.Context, req sdk.WebhookRequest) error {
	a.maybeCrash("verify_webhook")
	a.mu.Lock()
	secret := a.secrets["webhook_secret"]
	a.mu.Unlock()
	got := req.Headers.Get("X-Secret")
	if secret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(secret)) != 1 {
		return sdk.Rejected("bad secret")
	}
	return nil
}

func (a *adapter) Webhook(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	a.maybeCrash("webhook")
	var body struct {
		Device string  `json:"device"`
		PH     float64 `json:"ph"`
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return sdk.WebhookResult{}, sdk.Permanent("malformed body")
	}
	return sdk.WebhookResult{Readings: []sdk.Reading{{ProviderDeviceID: body.Device, Metric: "ph", Value: body.PH}}}, nil
}

func (a *adapter) PollReadings(_ context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	a.maybeCrash("poll")
	if path := a.setting("poll_answer"); path != "" {
		var res sdk.PollResult
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &res)
		}
		return res, err
	}
	return sdk.PollResult{
		Readings:   []sdk.Reading{{ProviderDeviceID: "dev-1", Metric: "temperature", Value: 24.5}},
		NextCursor: req.Cursor + "+",
	}, nil
}

// SendCommand answers sent at once, unless hang_file exists: then it hangs mid-send, as
// a plugin stuck after its request left for the provider does.
func (a *adapter) SendCommand(_ context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	a.maybeCrash("send_command")
	if p := a.setting("hang_file"); p != "" {
		if _, err := os.Stat(p); err == nil {
			_ = os.WriteFile(p+".sending", []byte(req.CommandID), 0o600)
			for {
				if _, err := os.Stat(p); err != nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	return sdk.CommandResult{Status: sdk.CommandSent, ProviderRef: "ref-" + req.CommandID}, nil
}

func (a *adapter) Health(context.Context) error {
	a.maybeCrash("health")
	if p := a.setting("hang_file"); p != "" {
		for {
			if _, err := os.Stat(p); err != nil {
				break
			}
			// A real hang ignores its context, so this one does too.
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

func main() {
	id := strings.TrimPrefix(filepath.Base(os.Args[0]), "poolhost-provider-")
	sdk.Serve(&adapter{id: id})
}
