package connect

import (
	"context"
	"fmt"

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
		out[s.Provider] = PluginState{State: string(s.State), Restarts: s.Restarts, LastError: s.LastError, Version: s.Version, SHA256: s.SHA256}
	}
	return out
}

// PluginsReady is a readiness check: the host is not ready while an enabled provider's
// plugin is still on its first start. Plugins that failed or are backing off do not
// make the host unready — the other providers still serve — and show in
// /v1/admin/providers and the metrics instead.
func PluginsReady(m *pluginmgr.Manager) func(context.Context) error {
	return func(context.Context) error {
		for _, s := range m.Statuses() {
			if s.Enabled && s.State == pluginmgr.StateStarting && s.Restarts == 0 {
				return fmt.Errorf("provider %s is still starting", s.Provider)
			}
		}
		return nil
	}
}
