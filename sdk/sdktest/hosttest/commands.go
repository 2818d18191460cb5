package hosttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Command is a command as GET /v1/pools/{id}/commands/{commandId} shows it.
type Command struct {
	ID      string         `json:"id"`
	Command string         `json:"command"`
	Params  map[string]any `json:"params"`
	// Status is queued, sending, then what the plugin's SendCommand said: sent (or
	// delivered, succeeded, once the provider reports so), failed (a refusal the provider
	// certainly did not act on), unknown (the outcome cannot be known: never resent);
	// or expired, canceled.
	Status           string          `json:"status"`
	Reason           string          `json:"reason"`
	ProviderRef      string          `json:"providerRef"`
	ProviderDeviceID string          `json:"providerDeviceId"`
	Channel          string          `json:"channel"`
	Raw              json.RawMessage `json:"-"`
}

// CommandAnswer is the host's answer to a command sent to equipment.
type CommandAnswer struct {
	// Status is 202 for a command queued, 200 for an Idempotency-Key already used with
	// the same request (the same command, not a new one), 403 for a command the
	// operator did not approve (Problem ".../command-not-approved"), 409 for equipment
	// bound to no device.
	Status  int
	Command Command // a 2xx's
	Problem string  // a refusal's problem+json type
	Body    []byte
}

// CreateEquipment adds a piece of equipment to a pool (kind "pump", "heater",
// "chlorinator", "salt_cell", "dosing_pump", "filter", "uv", "cleaner", "heat_pump"
// or "other") and returns its id.
func (h *Host) CreateEquipment(poolID int64, kind, name string) int64 {
	h.t.Helper()
	var e struct {
		ID int64 `json:"id"`
	}
	h.DoJSON(http.MethodPost, fmt.Sprintf("/v1/pools/%d/equipment", poolID), map[string]string{"kind": kind, "name": name}, &e)
	return e.ID
}

// Bind binds equipment to a device linked to the same pool ([Host.Link] first): its
// commands go to that device through the plugin, with channel (say, a relay's number;
// "" for none) in sdk.CommandRequest.Channel.
func (h *Host) Bind(poolID, equipmentID, deviceID int64, channel string) {
	h.t.Helper()
	h.DoJSON(http.MethodPut, fmt.Sprintf("/v1/pools/%d/equipment/%d/device", poolID, equipmentID),
		map[string]any{"deviceId": deviceID, "channel": channel}, nil)
}

// SendCommand sends a command to equipment as the pool's owner does: POST
// /v1/pools/{id}/equipment/{eq}/commands with an Idempotency-Key. The host queues it
// (202) and its dispatcher calls the plugin's SendCommand within a second or so:
// [Host.WaitCommand] waits for the outcome. The same key with the same request answers
// the same command (200), never a second one.
func (h *Host) SendCommand(poolID, equipmentID int64, command string, params map[string]any, idempotencyKey string) CommandAnswer {
	h.t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	body, err := json.Marshal(map[string]any{"command": command, "params": params})
	if err != nil {
		h.t.Fatal(err)
	}
	header := http.Header{}
	if idempotencyKey != "" {
		header.Set("Idempotency-Key", idempotencyKey)
	}
	path := fmt.Sprintf("/v1/pools/%d/equipment/%d/commands", poolID, equipmentID)
	code, b, err := h.doHeader(http.MethodPost, path, header, body)
	if err != nil {
		h.t.Fatalf("POST %s: %v", path, err)
	}
	ans := CommandAnswer{Status: code, Body: b}
	if code/100 == 2 {
		if err := json.Unmarshal(b, &ans.Command); err != nil {
			h.t.Fatalf("POST %s: decode %s: %v", path, b, err)
		}
		ans.Command.Raw = b
		return ans
	}
	var p struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(b, &p)
	ans.Problem = p.Type
	return ans
}

// GetCommand returns one of a pool's commands.
func (h *Host) GetCommand(poolID int64, id string) Command {
	h.t.Helper()
	code, b := h.Do(http.MethodGet, fmt.Sprintf("/v1/pools/%d/commands/%s", poolID, url.PathEscape(id)), nil)
	var c Command
	if code != http.StatusOK || json.Unmarshal(b, &c) != nil {
		h.t.Fatalf("command %s of pool %d: %d %s", id, poolID, code, b)
	}
	c.Raw = b
	return c
}

// pending are the statuses of a command the dispatcher has not settled yet.
var pending = []string{"queued", "sending"}

// WaitCommand waits until the dispatcher has settled the command, its status no longer
// queued or sending (sent, failed, unknown, expired, …), and returns it; it fails the
// test after 30 seconds. The host never sends a settled command again.
func (h *Host) WaitCommand(poolID int64, id string) Command {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := h.GetCommand(poolID, id)
		if !slices.Contains(pending, c.Status) {
			return c
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("command %s is still %s after 30s: %s", id, c.Status, c.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
