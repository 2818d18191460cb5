package pluginmgr

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// exitPoll is how often a running plugin's process is checked for an exit; go-plugin
// offers no channel for it.
const exitPoll = 100 * time.Millisecond

// watch returns nil when sup is cancelled, or why the plugin must be restarted: its
// process exited, it stayed unresponsive for UnresponsiveGrace, or it answered
// HealthFailures health checks in a row with an error. A health check or a call that
// gets no answer in time makes it unresponsive at once (see unresponsive).
func (p *Plugin) watch(sup *supervisor, inst *instance) error {
	p.mu.Lock()
	pcfg := p.pcfg
	p.mu.Unlock()
	exit := time.NewTicker(exitPoll)
	defer exit.Stop()
	health := time.NewTimer(pcfg.HealthInterval)
	defer health.Stop()
	misses := 0
	for {
		var err error
		select {
		case <-sup.ctx.Done():
			return nil
		case <-exit.C:
			if inst.client.Exited() {
				return fmt.Errorf("plugin process exited%s", inst.exitState())
			}
			continue
		case why := <-inst.suspect:
			// A call hit its deadline: a slow upstream, or a plugin that no longer
			// answers. One health check tells them apart.
			err = p.probe(sup.ctx, inst)
			if errors.Is(err, errNoAnswer) {
				err = fmt.Errorf("%s, and a health check got no answer either: %w", why, err)
			}
		case <-health.C:
			err = p.probe(sup.ctx, inst)
		}
		if sup.ctx.Err() != nil {
			return nil
		}
		switch {
		case err == nil:
			misses = 0
		case errors.Is(err, errNoAnswer):
			misses = 0
			if err := p.unresponsive(sup, inst, err); err != nil || sup.ctx.Err() != nil {
				return err
			}
		default:
			misses++
			p.m.log.Warn("plugin health check failed", "provider", p.id, "misses", misses, "error", err)
			if misses >= pcfg.HealthFailures {
				return fmt.Errorf("plugin unhealthy: %d health checks failed in a row, last: %w", misses, err)
			}
		}
		health.Reset(pcfg.HealthInterval)
	}
}

// errNoAnswer: a health check ran out of time — the plugin did not answer at all, as
// opposed to answering that it is unhealthy.
var errNoAnswer = errors.New("no answer")

// probe runs one health check under the health deadline.
func (p *Plugin) probe(ctx context.Context, inst *instance) error {
	p.mu.Lock()
	timeout := p.cfg.Timeouts.Health
	p.mu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := inst.adapter.Health(pctx)
	if err != nil && deadlinePassed(pctx) && ctx.Err() == nil {
		return fmt.Errorf("health check: %w within %v", errNoAnswer, timeout)
	}
	return err
}

// unresponsive marks the plugin unresponsive — calls refused and in-flight ones
// aborted, so webhooks get 503 with Retry-After at once — and probes it every
// ProbeEvery. It returns nil once the plugin answers again (running again) or sup is
// cancelled, and an error to restart it when UnresponsiveGrace passes without an answer.
func (p *Plugin) unresponsive(sup *supervisor, inst *instance, cause error) error {
	log := p.m.log.With("provider", p.id, "pid", inst.pid)
	log.Error("plugin unresponsive; refusing its calls while it is probed", "error", cause, "grace", UnresponsiveGrace.String())
	p.mu.Lock()
	p.lastErr = "unresponsive: " + cause.Error()
	p.mu.Unlock()
	p.setState(StateUnresponsive)
	inst.setHung(true)
	since := time.Now()
	for {
		if !sleep(sup.ctx, ProbeEvery) {
			return nil
		}
		if inst.client.Exited() {
			return fmt.Errorf("plugin process exited while unresponsive (%w)", cause)
		}
		err := p.probe(sup.ctx, inst)
		if sup.ctx.Err() != nil {
			return nil
		}
		if err == nil {
			log.Info("plugin answers again", "unresponsive_for", time.Since(since).Round(time.Millisecond).String())
			inst.setHung(false)
			p.setState(StateRunning)
			return nil
		}
		if waited := time.Since(since); waited >= UnresponsiveGrace {
			return fmt.Errorf("plugin unresponsive for %v: %w", waited.Round(time.Millisecond), cause)
		}
	}
}
