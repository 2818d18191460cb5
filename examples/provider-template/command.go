package template

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/poolhost/poolhost/sdk"
)

var _ sdk.Commander = (*Adapter)(nil)

// SendCommand asks Acme to switch a pump: POST /api/devices/{id}/commands with the
// command, its validated parameters and the host's command id as client_ref. An
// actuator is sent at most once, so the error kinds matter more here than anywhere:
//   - a refusal Acme certainly did not act on (401 after a refresh, 403, 404, 429) is a
//     plain kind: the host fails the command, or retries a 429 before its expiry;
//   - anything after the request may have reached Acme (a 5xx, a connection dropped
//     mid-request) wraps sdk.ErrOutcomeUnknown: the host never resends it.
//
// A 401 is answered by refreshing the token and sending again: Acme refused the
// request, so it did not act on it.
func (a *Adapter) SendCommand(ctx context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	s, err := a.session(req.Account)
	if err != nil {
		return sdk.CommandResult{}, err
	}
	if s.expired() {
		if err := s.refresh(ctx); err != nil {
			return sdk.CommandResult{}, s.fail(err)
		}
	}
	body, err := json.Marshal(map[string]any{"command": req.Command, "params": req.Params, "client_ref": req.CommandID})
	if err != nil {
		return sdk.CommandResult{}, sdk.Permanent("encode command: %v", err)
	}
	for attempt := 0; ; attempt++ {
		u := s.cfg.baseURL.JoinPath("api", "devices", req.ProviderDeviceID, "commands")
		hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
		if err != nil {
			return sdk.CommandResult{}, s.fail(sdk.Permanent("build request: %v", err))
		}
		hr.Header.Set("Authorization", "Bearer "+s.creds[credAccessToken])
		hr.Header.Set("Content-Type", "application/json")
		resp, err := a.client.Do(hr)
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				return sdk.CommandResult{}, s.fail(sdk.Temporary("acme unreachable: %v", op.Err))
			}
			return sdk.CommandResult{}, s.fail(fmt.Errorf("%w: send command to acme: %v", sdk.ErrOutcomeUnknown, err))
		}
		var out struct {
			ID string `json:"id"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, maxResponseBytes)).Decode(&out)
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return sdk.CommandResult{Status: sdk.CommandSent, ProviderRef: out.ID, RefreshedCredentials: s.refreshed()}, nil
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0:
			if err := s.refresh(ctx); err != nil {
				return sdk.CommandResult{}, s.fail(err)
			}
		case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden:
			return sdk.CommandResult{}, s.fail(sdk.Reauth("acme refused the account's token (%d)", resp.StatusCode))
		case resp.StatusCode == http.StatusTooManyRequests:
			return sdk.CommandResult{}, s.fail(sdk.RetryAfter(sdk.RetryAfterHeader(resp.Header, a.now()), "acme rate limit (429)"))
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			return sdk.CommandResult{}, s.fail(sdk.Permanent("acme refused the command (%d)", resp.StatusCode))
		default:
			return sdk.CommandResult{}, s.fail(fmt.Errorf("%w: acme answered %d", sdk.ErrOutcomeUnknown, resp.StatusCode))
		}
	}
}
