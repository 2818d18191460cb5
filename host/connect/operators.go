package connect

// The operators' provider view: write/control calls, provider statuses, reload.

import (
	"context"
	"strings"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
)

func requireAdmin(a auth.Actor) error {
	if a.IsUser() && !a.Admin {
		return host.Errorf(host.EFORBIDDEN, "this needs an admin")
	}
	if !a.IsUser() && a.System == "" {
		return host.Errorf(host.EUNAUTHORIZED, "an admin is required")
	}
	return nil
}

// ProviderStatuses lists every configured provider, enabled or not, with its flags and
// its plugin's supervision state. Admins only.
func (s *Service) ProviderStatuses(ctx context.Context, a auth.Actor) ([]ProviderStatus, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	cfg := s.d.Config()
	if cfg == nil {
		return nil, nil
	}
	var states map[string]PluginState
	if s.d.Plugins != nil {
		states = s.d.Plugins.States()
	}
	out := make([]ProviderStatus, 0, len(cfg.Providers))
	for _, p := range cfg.Providers {
		ps := ProviderStatus{ID: p.ID, Enabled: p.Enabled, Stage: p.Stage, Access: p.Access, Webhooks: p.Webhooks, Poll: p.Poll, State: "disabled", PinnedSHA256: p.SHA256}
		if p.InPilot() {
			ps.PilotUsers = append([]string{}, p.PilotUsers...)
		}
		if st, ok := states[p.ID]; ok {
			ps.State, ps.Restarts, ps.LastError, ps.Version, ps.PID = st.State, st.Restarts, st.LastError, st.Version, st.PID
			if !st.Since.IsZero() {
				since := st.Since
				ps.Since = &since
			}
			ps.SHA256, ps.ReloadWarning, ps.PendingConfigRefused = st.SHA256, st.Warning, st.Refused
		} else if p.Enabled {
			ps.State = "unknown"
		}
		out = append(out, ps)
	}
	return out, nil
}

// Reload re-reads the configuration and puts it in force, then reports what changed
// and the providers. Admins and the system (SIGHUP: system:signal) only; audited
// either way, a refused file included.
func (s *Service) Reload(ctx context.Context, a auth.Actor) (ReloadReport, error) {
	if err := requireAdmin(a); err != nil {
		return ReloadReport{}, err
	}
	if s.d.Reload == nil {
		return ReloadReport{}, host.Errorf(host.EUNAVAILABLE, "reload is not available")
	}
	old := s.d.Config()
	var before map[string]PluginState
	if s.d.Plugins != nil {
		before = s.d.Plugins.States()
	}
	rep, rerr := s.d.Reload(ctx)
	details := map[string]any{"ok": rerr == nil}
	if rerr != nil {
		details["error"] = host.ErrorMessage(rerr)
	} else {
		details["changed"] = nonNilStrings(rep.Changed)
		if len(rep.RestartRequired) > 0 {
			details["restartRequired"] = rep.RestartRequired
		}
		reverified, warnings := s.reverify(ctx, a, old, s.d.Config())
		if len(reverified) > 0 {
			details["reverifiedAccounts"] = reverified
		}
		rep.Warnings = append(rep.Warnings, warnings...)
	}
	var statuses []ProviderStatus
	if rerr == nil {
		var err error
		if statuses, err = s.ProviderStatuses(ctx, a); err != nil {
			return ReloadReport{}, err
		}
		// A failed plugin stays failed until a reload; say which ones this one brought
		// back, or "nothing changed" reads as if it had done nothing.
		for _, st := range statuses {
			if st.Enabled && st.State == "running" && before[st.ID].State == "failed" {
				rep.Recovered = append(rep.Recovered, st.ID)
			}
		}
		if len(rep.Recovered) > 0 {
			details["recovered"] = rep.Recovered
		}
		// "ok" says the file was accepted; these say what it left wrong.
		notRunning, kept := ReloadTrouble(statuses)
		if len(notRunning) > 0 {
			details["notRunning"] = notRunning
		}
		if len(kept) > 0 {
			details["keptOldProcess"] = kept
		}
	}
	s.d.Audit.Record(ctx, audit.Entry{Action: audit.ProviderReloaded, Actor: a, TargetType: "config", Details: details})
	if rerr != nil {
		return ReloadReport{}, rerr
	}
	rep.Changed, rep.RestartRequired, rep.Warnings = nonNilStrings(rep.Changed), nonNilStrings(rep.RestartRequired), nonNilStrings(rep.Warnings)
	rep.Recovered = nonNilStrings(rep.Recovered)
	rep.Providers = statuses
	return rep, nil
}

// ReloadTrouble names, after a reload, the enabled providers whose plugin is not
// running (with its state and last error) and those that kept their old process (with
// why): what the reload's audit row and the console's banner must say.
func ReloadTrouble(ps []ProviderStatus) (notRunning, keptOldProcess map[string]string) {
	notRunning, keptOldProcess = map[string]string{}, map[string]string{}
	for _, p := range ps {
		if p.Enabled && p.State != "running" {
			why := p.State
			if p.LastError != "" {
				why += ": " + p.LastError
			}
			notRunning[p.ID] = why
		}
		// A stale file kept its process; a refused block kept the previous block (and
		// stays refused across restarts of the process).
		var why []string
		for _, w := range []string{p.ReloadWarning, p.PendingConfigRefused} {
			if w != "" {
				why = append(why, w)
			}
		}
		if len(why) > 0 {
			keptOldProcess[p.ID] = strings.Join(why, "; ")
		}
	}
	return notRunning, keptOldProcess
}

// nonNilStrings makes an empty list [] rather than null in JSON.
func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
