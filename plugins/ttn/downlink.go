package ttn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
)

// Commands go out as downlinks through the Application Server's webhook downlink API;
// the application's downlink payload formatter encodes decoded_payload for the device.
const (
	SettingServerURL    = "server_url"
	SettingCommandPorts = "command_ports"

	InputApplicationID  = "application_id"
	InputWebhookID      = "webhook_id"
	InputDownlinkAPIKey = "downlink_api_key"

	// CorrelationPrefix marks the host's command id among a downlink's correlation ids.
	CorrelationPrefix = "poolhost:cmd:"
)

var _ sdk.Commander = (*Adapter)(nil)

// supportedCommands are the vocabulary commands a downlink can carry: all of them, as a
// decoded payload; command_ports says which the operator's devices understand.
var supportedCommands = command.Names()

func commandSettings() []sdk.Option {
	return []sdk.Option{
		{Key: SettingServerURL, Type: sdk.OptionURL, Help: "The cluster's base URL for downlinks, e.g. https://eu1.cloud.thethings.network."},
		{Key: SettingCommandPorts, Help: "Each command's FPort, e.g. \"pump.set:10,chlorinator.set_output:11\"; a command without one is refused."},
	}
}

func commandInputs() []sdk.Option {
	return []sdk.Option{
		{Key: InputApplicationID, Help: "The application id, for downlinks (commands). Without the three downlink inputs the account is read-only."},
		{Key: InputWebhookID, Help: "The webhook id, for downlinks."},
		{Key: InputDownlinkAPIKey, Secret: true, Help: "An API key with \"write downlink application traffic\" rights."},
	}
}

// parsePorts reads "pump.set:10,light.set:12".
func parsePorts(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, port, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("%q is not command:fport", part)
		}
		name = strings.TrimSpace(name)
		if _, known := command.Lookup(name); !known {
			return nil, fmt.Errorf("%q is not a poolhost command", name)
		}
		n, err := strconv.Atoi(strings.TrimSpace(port))
		if err != nil || n < 1 || n > 223 {
			return nil, fmt.Errorf("FPort of %s must be 1–223", name)
		}
		out[name] = n
	}
	return out, nil
}

// linkInputs checks the optional downlink inputs at Connect: all three or none.
func linkInputs(in map[string]string, creds sdk.Credentials) error {
	keys := []string{InputApplicationID, InputWebhookID, InputDownlinkAPIKey}
	n := 0
	for _, k := range keys {
		if v := strings.TrimSpace(in[k]); v != "" {
			creds[k] = v
			n++
		}
	}
	if n != 0 && n != len(keys) {
		return sdk.InvalidInput("give application_id, webhook_id and downlink_api_key together, or none (read-only)")
	}
	return nil
}

type pushDownlink struct {
	FPort          int            `json:"f_port"`
	DecodedPayload map[string]any `json:"decoded_payload"`
	Priority       string         `json:"priority"`
	Confirmed      bool           `json:"confirmed"`
	CorrelationIDs []string       `json:"correlation_ids"`
}

// SendCommand pushes one confirmed downlink carrying the command. The host's command id
// rides in correlation_ids, so the stack's later downlink_sent/ack/nack/failed messages
// on the account's webhook name it.
func (a *Adapter) SendCommand(ctx context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	cfg := a.config()
	creds := req.Account.Credentials
	app, hook, key := creds[InputApplicationID], creds[InputWebhookID], creds[InputDownlinkAPIKey]
	if app == "" || hook == "" || key == "" {
		return sdk.CommandResult{}, sdk.Permanent("the account is read-only: reconnect it with application_id, webhook_id and downlink_api_key")
	}
	if cfg.serverURL == "" {
		return sdk.CommandResult{}, sdk.Permanent("setting %s is not configured", SettingServerURL)
	}
	port, ok := cfg.ports[req.Command]
	if !ok {
		return sdk.CommandResult{}, sdk.Permanent("setting %s gives %s no FPort", SettingCommandPorts, req.Command)
	}
	payload := map[string]any{"command": req.Command}
	for k, v := range req.Params {
		payload[k] = v
	}
	if req.Channel != "" {
		payload["channel"] = req.Channel
	}
	body, err := json.Marshal(map[string]any{"downlinks": []pushDownlink{{
		FPort: port, DecodedPayload: payload, Priority: "NORMAL", Confirmed: true,
		CorrelationIDs: []string{CorrelationPrefix + req.CommandID},
	}}})
	if err != nil {
		return sdk.CommandResult{}, sdk.Permanent("encode downlink: %v", err)
	}
	u := cfg.serverURL + "/api/v3/as/applications/" + url.PathEscape(app) + "/webhooks/" + url.PathEscape(hook) +
		"/devices/" + url.PathEscape(req.ProviderDeviceID) + "/down/push"
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return sdk.CommandResult{}, sdk.Permanent("build request: %v", err)
	}
	hr.Header.Set("Authorization", "Bearer "+key)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := a.client().Do(hr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			// Never connected: the stack cannot have the downlink.
			return sdk.CommandResult{}, sdk.Temporary("the things stack unreachable: %v", op.Err)
		}
		return sdk.CommandResult{}, fmt.Errorf("%w: push downlink: %v", sdk.ErrOutcomeUnknown, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return sdk.CommandResult{Status: sdk.CommandSent}, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return sdk.CommandResult{}, sdk.Reauth("the things stack refused the downlink API key (%d): the account needs a new key", resp.StatusCode)
	case resp.StatusCode == http.StatusTooManyRequests:
		return sdk.CommandResult{}, sdk.RetryAfter(retryAfter(resp.Header), "the things stack rate limit (429)")
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return sdk.CommandResult{}, sdk.Permanent("the things stack refused the downlink (%d)", resp.StatusCode)
	}
	// A 5xx: the stack may have queued it before failing; do not guess.
	return sdk.CommandResult{}, fmt.Errorf("%w: the things stack answered %d", sdk.ErrOutcomeUnknown, resp.StatusCode)
}

// retryAfter is how long a 429 says to wait. The stack's rate limiter says it in
// X-Rate-Limit-Retry, whole seconds (lorawan-stack pkg/ratelimit), and sends no
// Retry-After; a proxy in front of it may send one.
func retryAfter(h http.Header) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get("X-Rate-Limit-Retry"))); err == nil && n > 0 {
		return time.Duration(min(n, 24*60*60)) * time.Second
	}
	return sdk.RetryAfterHeader(h, time.Now())
}

func (a *Adapter) client() *http.Client {
	if a.http != nil {
		return a.http
	}
	return defaultClient
}

// defaultClient sends downlinks: each call's deadline bounds it, and sdk.HTTPClient puts
// the push in the host's trace when tracing is on.
var defaultClient = sdk.HTTPClient(0)

// downlinkEvent is the part of a downlink_* message the adapter reads. downlink_failed
// nests the downlink and carries the error.
type downlinkEvent struct {
	CorrelationIDs []string `json:"correlation_ids"`
	Downlink       *struct {
		CorrelationIDs []string `json:"correlation_ids"`
	} `json:"downlink"`
	Error *struct {
		Name          string `json:"name"`
		MessageFormat string `json:"message_format"`
	} `json:"error"`
}

type downlinkMessage struct {
	CorrelationIDs []string       `json:"correlation_ids"`
	Queued         *downlinkEvent `json:"downlink_queued"`
	Sent           *downlinkEvent `json:"downlink_sent"`
	Ack            *downlinkEvent `json:"downlink_ack"`
	Nack           *downlinkEvent `json:"downlink_nack"`
	Failed         *downlinkEvent `json:"downlink_failed"`
}

// commandUpdates reads a downlink_* message: sent is delivered (the gateway transmitted
// it), ack is succeeded (the device confirmed), failed is failed; queued changes nothing.
// A nack is not the end: the stack pushes a nacked confirmed downlink again, up to its
// retry limit (8 by default), and reports downlink_failed once it gives up
// (lorawan-stack applicationserver: handleDownlinkNack, registerDropDownlinks), so a nack
// is delivered, not acknowledged yet; a later ack still succeeds the command. Only
// downlinks carrying a poolhost correlation id are reported.
func commandUpdates(body []byte) []sdk.CommandUpdate {
	var m downlinkMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	var ev *downlinkEvent
	var status sdk.CommandStatus
	reason := ""
	switch {
	case m.Ack != nil:
		ev, status = m.Ack, sdk.CommandSucceeded
	case m.Nack != nil:
		ev, status, reason = m.Nack, sdk.CommandDelivered, "the device did not acknowledge the downlink yet (nack); the things stack sends it again"
	case m.Failed != nil:
		ev, status, reason = m.Failed, sdk.CommandFailed, "the things stack failed the downlink"
		if e := m.Failed.Error; e != nil && (e.MessageFormat != "" || e.Name != "") {
			reason += ": " + strings.TrimSpace(e.Name+" "+e.MessageFormat)
		}
	case m.Sent != nil:
		ev, status = m.Sent, sdk.CommandDelivered
	default:
		return nil // downlink_queued or not a downlink message
	}
	ids := append(append([]string(nil), m.CorrelationIDs...), ev.CorrelationIDs...)
	if ev.Downlink != nil {
		ids = append(ids, ev.Downlink.CorrelationIDs...)
	}
	seen := map[string]bool{}
	var out []sdk.CommandUpdate
	for _, id := range ids {
		cmd, ok := strings.CutPrefix(id, CorrelationPrefix)
		if !ok || cmd == "" || seen[cmd] {
			continue
		}
		seen[cmd] = true
		out = append(out, sdk.CommandUpdate{CommandID: cmd, Status: status, Reason: reason})
	}
	return out
}
