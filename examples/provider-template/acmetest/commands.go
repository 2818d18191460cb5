package acmetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
)

// Command is one command the fake Acme accepted: POST /api/devices/{id}/commands with
// {"command": "...", "params": {...}, "client_ref": "..."}, bearer token required. Acme
// answers 202 {"id": "acme-cmd-N", "status": "accepted"}.
type Command struct {
	DeviceID  string         `json:"-"`
	Command   string         `json:"command"`
	Params    map[string]any `json:"params"`
	ClientRef string         `json:"client_ref"`
}

// Commands returns the commands the fake accepted, in order.
func (s *Server) Commands() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands)
}

func (s *Server) handleCommand(w http.ResponseWriter, r *http.Request) {
	var c Command
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil || c.Command == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_command"})
		return
	}
	c.DeviceID = r.PathValue("id")
	s.mu.Lock()
	known := slices.ContainsFunc(s.devices, func(d Device) bool { return d.ID == c.DeviceID })
	if known {
		s.commands = append(s.commands, c)
	}
	n := len(s.commands)
	s.mu.Unlock()
	if !known {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown_device"})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": fmt.Sprintf("acme-cmd-%d", n), "status": "accepted"})
}
