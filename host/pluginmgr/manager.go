package pluginmgr

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/sdk"
)

// State is where a provider's plugin is in its life.
type State string

const (
	StateDisabled State = "disabled" // not enabled in config, or the manager is closed
	StateStarting State = "starting" // launching, describing, configuring
	StateRunning  State = "running"  // serving calls
	StateBackoff  State = "backoff"  // waiting to restart after an exit, hang or failed start
	StateFailed   State = "failed"   // given up until the next Reload
	// StateUnresponsive: the process is there but did not answer in time (hung,
	// stopped, overloaded). Calls are refused at once while it is probed; it is
	// restarted unless it answers again within UnresponsiveGrace.
	StateUnresponsive State = "unresponsive"
)

var allStates = []State{StateDisabled, StateStarting, StateRunning, StateUnresponsive, StateBackoff, StateFailed}

// Status is a provider's supervision state, for the admin API, metrics and
// `poolhost plugins check`.
type Status struct {
	Provider  string    `json:"provider"`
	Enabled   bool      `json:"enabled"`
	Stage     string    `json:"stage"`
	Access    string    `json:"access"`
	State     State     `json:"state"`
	Since     time.Time `json:"since"`
	Restarts  int       `json:"restarts"`
	LastError string    `json:"last_error,omitempty"`
	// Version, ProtocolVersion and Capabilities come from the last successful Describe.
	Version         string           `json:"version,omitempty"`
	ProtocolVersion int              `json:"protocol_version,omitempty"`
	Capabilities    sdk.Capabilities `json:"capabilities"`
	Binary          string           `json:"binary"`
	// SHA256 is the hash of the file the running process was started from (for a
	// bundle, its manifest's), taken at launch from the very file executed (see
	// launch). Once the process is gone it names the last one launched. Pinned is the
	// config's pin.
	SHA256 string `json:"sha256,omitempty"`
	Pinned string `json:"pinned_sha256,omitempty"`
	PID    int    `json:"pid,omitempty"`
	// Warning says why the last reload left the running process in place although the
	// plugin on disk or its config block changed (a stale pin, a bundle changed without
	// its manifest): the provider serves, but from the old plugin.
	Warning string `json:"warning,omitempty"`
	// Refused says why the config block the last reload read for this provider is not
	// in force: it could not start (a wrong pin, say), so the provider runs its previous
	// block. Unlike Warning it outlives the process: a restart after a crash runs the
	// previous block again, and the refusal stays until a reload puts a block in force.
	Refused string `json:"pending_config_refused,omitempty"`
}

// StopGrace is how long stopping a plugin waits for its in-flight calls before
// cancelling them.
var StopGrace = 2 * time.Second

// UnresponsiveGrace is how long an unresponsive plugin is probed before it is killed
// and restarted: long enough to ride out a pause (a GC, a loaded box), short enough that
// deliveries are not refused for long. ProbeEvery is the pause between probes.
var (
	UnresponsiveGrace = 3 * time.Second
	ProbeEvery        = 250 * time.Millisecond
)

// Restart is what the manager reports when a plugin that was running went down: why
// (it exited, stopped answering, failed its health checks), which process it was, and
// whether it is restarted or, its restart budget spent, failed until the next reload.
type Restart struct {
	Provider string
	Reason   string
	PID      int
	GaveUp   bool
}

// Manager supervises the plugins of every configured provider.
type Manager struct {
	log     hclog.Logger
	metrics *metrics

	// reconcile serialises Start, Reload and Close.
	reconcile sync.Mutex

	mu        sync.Mutex
	cfg       *config.Config
	plugins   map[string]*Plugin
	order     []string
	closed    bool
	onRestart func(Restart)
}

// OnRestart sets a function told of every restart of a plugin that was running (the
// audit trail's plugin.restarted). It runs on the supervision goroutine: keep it short.
func (m *Manager) OnRestart(fn func(Restart)) {
	m.mu.Lock()
	m.onRestart = fn
	m.mu.Unlock()
}

func (m *Manager) restarted(r Restart) {
	m.mu.Lock()
	fn := m.onRestart
	m.mu.Unlock()
	if fn != nil {
		fn(r)
	}
}

// New returns a Manager for cfg's providers; nothing runs until Start. Metrics are
// registered on reg when it is not nil.
func New(logger hclog.Logger, reg prometheus.Registerer, cfg *config.Config) *Manager {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Manager{
		log:     logger.Named("pluginmgr"),
		metrics: newMetrics(reg),
		cfg:     cfg,
		plugins: map[string]*Plugin{},
	}
}

// Start launches every enabled provider's plugin and returns once each has been tried
// once (running, backing off or failed: see Statuses), or when ctx ends. Supervision
// carries on in the background until Close.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	cfg := m.cfg
	m.mu.Unlock()
	return m.Reload(ctx, cfg)
}

// Reload reconciles the running plugins with cfg: it starts newly enabled providers,
// stops disabled and removed ones, restarts those whose binary, pin or flags changed and
// those that had failed, and hands everyone else their (possibly new) settings and
// secrets with Configure. Providers it has no reason to touch keep their process. It
// returns once every provider it started has been tried once, with an error naming
// the providers that are not running.
func (m *Manager) Reload(ctx context.Context, cfg *config.Config) error {
	m.reconcile.Lock()
	defer m.reconcile.Unlock()

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errors.New("reload plugins: manager closed")
	}
	m.cfg = cfg
	old := maps.Clone(m.plugins)
	var order []string
	for _, pc := range cfg.Providers {
		order = append(order, pc.ID)
		if m.plugins[pc.ID] == nil {
			m.plugins[pc.ID] = newPlugin(m, pc)
		}
	}
	m.order = order
	current := maps.Clone(m.plugins)
	m.mu.Unlock()

	var (
		wg      sync.WaitGroup
		started []*Plugin
		startMu sync.Mutex
	)
	for _, pc := range cfg.Providers {
		p := current[pc.ID]
		wg.Go(func() {
			if p.reconcile(ctx, pc, cfg.Plugins, cfg.LogLevel) {
				startMu.Lock()
				started = append(started, p)
				startMu.Unlock()
			}
		})
	}
	for id, p := range old {
		if _, ok := cfg.Provider(id); !ok {
			wg.Go(func() { p.remove() })
		}
	}
	wg.Wait()

	m.mu.Lock()
	for id := range old {
		if _, ok := cfg.Provider(id); !ok {
			delete(m.plugins, id)
		}
	}
	m.mu.Unlock()

	var errs []error
	for _, p := range started {
		if err := p.waitFirstAttempt(ctx); err != nil {
			return fmt.Errorf("reload plugins: %w", err)
		}
	}
	var kept []error
	for _, pc := range cfg.Providers {
		st := current[pc.ID].Status()
		switch {
		case pc.Enabled && st.State != StateRunning:
			errs = append(errs, fmt.Errorf("%s: %s: %s", pc.ID, st.State, st.LastError))
			if st.Refused != "" {
				kept = append(kept, fmt.Errorf("%s: %s", pc.ID, st.Refused))
			}
		case st.Refused != "":
			kept = append(kept, fmt.Errorf("%s: %s", pc.ID, st.Refused))
		case st.Warning != "":
			kept = append(kept, fmt.Errorf("%s: %s", pc.ID, st.Warning))
		}
	}
	switch {
	case len(errs) > 0:
		return fmt.Errorf("plugins not running: %w", errors.Join(append(errs, kept...)...))
	case len(kept) > 0:
		return fmt.Errorf("plugins not reloaded: %w", errors.Join(kept...))
	}
	return nil
}

// Close stops every plugin. Calls made afterwards fail with ErrNotFound.
func (m *Manager) Close() error {
	m.reconcile.Lock()
	defer m.reconcile.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	plugins := slices.Collect(maps.Values(m.plugins))
	m.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range plugins {
		wg.Go(func() { p.remove() })
	}
	wg.Wait()
	return nil
}

// Get returns the handle of an enabled provider, or ErrNotFound. The handle stays valid
// across restarts and reloads; its calls fail with ErrUnavailable while the plugin is
// down (those made while a reload replaces a running process wait for the new one) and
// ErrNotFound once the provider is disabled.
func (m *Manager) Get(id string) (*Plugin, error) {
	m.mu.Lock()
	p := m.plugins[id]
	closed := m.closed
	m.mu.Unlock()
	if p == nil || closed || !p.Enabled() {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return p, nil
}

// Statuses reports every configured provider, in config order.
func (m *Manager) Statuses() []Status {
	m.mu.Lock()
	ps := make([]*Plugin, 0, len(m.order))
	for _, id := range m.order {
		if p := m.plugins[id]; p != nil {
			ps = append(ps, p)
		}
	}
	m.mu.Unlock()
	out := make([]Status, len(ps))
	for i, p := range ps {
		out[i] = p.Status()
	}
	return out
}
