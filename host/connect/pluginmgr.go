package connect

import (
	"context"
	"fmt"
	"strings"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/pluginmgr"
)

// FromManager adapts the plugin manager to Plugins. Its errors are already *host.Error
// (ErrNotFound → provider-not-found, ErrUnavailable → 503) and pass through unchanged.
func FromManager(m *pluginmgr.Manager) Plugins { return managerPlugins{m} }

type managerPlugins struct{ m *pluginmgr.Manager }

func (p managerPlugins) Adapter(provider string) (Adapter, error) {
	h, err := p.m.Get(provider)
	if err != nil {
		return nil, err
	}
	return h, nil
}

func (p managerPlugins) States() map[string]PluginState {
	out := map[string]PluginState{}
	for _, s := range p.m.Statuses() {
		out[s.Provider] = PluginState{State: string(s.State), Since: s.Since, Restarts: s.Restarts, LastError: s.LastError,
			Version: s.Version, SHA256: s.SHA256, PID: s.PID, Warning: s.Warning, Refused: s.Refused}
	}
	return out
}

// PluginsReady is a readiness check: the host is not ready while an enabled provider's
// plugin is still on its first start. An enabled provider that is failed, or restarting
// after a crash, makes the host degraded (host.ErrDegraded), not unready: the other
// providers still serve, another replica would have the same plugin, and the provider
// answers "unavailable" (webhooks 503, so providers redeliver) until it is back. So does
// a provider whose config block from the last reload was refused: it serves, but not
// as the file says, and a restart of its process must not hide that.
func PluginsReady(m *pluginmgr.Manager) func(context.Context) error {
	return func(context.Context) error {
		var down []string
		for _, s := range m.Statuses() {
			if s.Enabled && s.Refused != "" {
				down = append(down, s.Provider+" runs its previous config block (the new one is refused)")
			}
			if !s.Enabled || s.State == pluginmgr.StateRunning {
				continue
			}
			if s.State == pluginmgr.StateStarting && s.Restarts == 0 {
				return fmt.Errorf("provider %s is still starting", s.Provider)
			}
			down = append(down, s.Provider+" "+string(s.State))
		}
		if len(down) > 0 {
			return fmt.Errorf("%w: %s", host.ErrDegraded, strings.Join(down, ", "))
		}
		return nil
	}
}

// ProviderStates is each configured provider's plugin state, for /readyz.
func ProviderStates(m *pluginmgr.Manager) func() map[string]string {
	return func() map[string]string {
		out := map[string]string{}
		for _, s := range m.Statuses() {
			out[s.Provider] = string(s.State)
		}
		return out
	}
}
