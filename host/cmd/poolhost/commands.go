package main

import (
	"context"
	"sync"

	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/commands"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// commandSide is the write/control side of the host: the commands service (API rules,
// provider updates) and the dispatcher, rebuilt when command_worker changes on reload.
type commandSide struct {
	svc     *commands.Service
	newDisp func(config.CommandWorker) *commands.Dispatcher

	mu      sync.Mutex
	ctx     context.Context
	stopped bool
	cfg     config.CommandWorker
	disp    *commands.Dispatcher
}

func (s *server) newCommandSide(st *store.Store) *commandSide {
	cfg := s.config()
	rec := audit.NewRecorder(audit.StoreWriter(st), s.log)
	m := commands.NewMetrics(s.metrics)
	plugins := commands.ManagerPlugins(s.plugins)
	svc := commands.New(st, pools.New(st, rec), plugins, rec, commands.Config{DefaultExpiry: cfg.CommandWorker.DefaultExpiry}, m)
	owner := ""
	c := &commandSide{svc: svc, cfg: cfg.CommandWorker}
	c.newDisp = func(w config.CommandWorker) *commands.Dispatcher {
		d := commands.NewDispatcher(st, plugins, rec, m, s.log, commands.DispatcherConfig{CommandWorker: w, Owner: owner})
		owner = d.Owner()
		return d
	}
	c.disp = c.newDisp(cfg.CommandWorker)
	return c
}

// updates is the hook webhook deliveries and poll results call with command updates.
func (c *commandSide) updates(ctx context.Context, provider string, accountID int64, us []sdk.CommandUpdate) int {
	return c.svc.ApplyUpdates(ctx, provider, accountID, us)
}

func (c *commandSide) start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ctx = ctx
	c.disp.Start(ctx)
}

func (c *commandSide) reload(cfg *config.Config) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || cfg.CommandWorker == c.cfg {
		return
	}
	c.cfg = cfg.CommandWorker
	c.disp.Close()
	c.disp = c.newDisp(cfg.CommandWorker)
	if c.ctx != nil {
		c.disp.Start(c.ctx)
	}
}

// stop drains: the sends in flight finish and are recorded; nothing new is claimed.
func (c *commandSide) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	c.disp.Close()
}
