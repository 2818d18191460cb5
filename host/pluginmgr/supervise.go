package pluginmgr

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/poolhost/poolhost/host/config"
)

// supervisor is one run of a provider's supervision loop, from a start to a stop.
type supervisor struct {
	ctx       context.Context // cancelled to stop
	cancel    context.CancelFunc
	done      chan struct{} // closed when the loop has returned and its process is gone
	first     chan struct{} // closed after the first start attempt
	firstOnce sync.Once
}

func (s *supervisor) markFirst() { s.firstOnce.Do(func() { close(s.first) }) }

func (p *Plugin) startSupervisor() {
	ctx, cancel := context.WithCancel(context.Background())
	sup := &supervisor{ctx: ctx, cancel: cancel, done: make(chan struct{}), first: make(chan struct{})}
	p.mu.Lock()
	p.sup = sup
	p.failures = nil // a reload gives a failed provider a fresh budget
	p.mu.Unlock()
	go p.supervise(sup)
}

// stopSupervisor stops the loop and waits until its process is gone.
func (p *Plugin) stopSupervisor() {
	p.mu.Lock()
	sup := p.sup
	p.sup = nil
	p.mu.Unlock()
	if sup == nil {
		return
	}
	sup.cancel()
	<-sup.done
}

func (p *Plugin) remove() {
	p.mu.Lock()
	p.removed = true
	p.refused = "" // no block at all now: nothing pending
	p.mu.Unlock()
	p.m.metrics.setRefused(p.id, false)
	p.stopSupervisor()
	p.setState(StateDisabled)
}

func (p *Plugin) waitFirstAttempt(ctx context.Context) error {
	p.mu.Lock()
	sup := p.sup
	p.mu.Unlock()
	if sup == nil {
		return nil
	}
	select {
	case <-sup.first:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Plugin) setState(s State) {
	p.mu.Lock()
	if p.state != s {
		p.state, p.since = s, time.Now()
	}
	p.mu.Unlock()
	p.m.metrics.setState(p.id, s)
}

// recordFailure notes a failure and reports whether the restart budget is spent.
func (p *Plugin) recordFailure(err error) (exhausted bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.lastErr = err.Error()
	p.failures = append(p.failures, now)
	cutoff := now.Add(-p.pcfg.RestartWindow)
	p.failures = slices.DeleteFunc(p.failures, func(t time.Time) bool { return t.Before(cutoff) })
	return len(p.failures) > p.pcfg.MaxRestarts
}

// backoff is min(base·2^(n-1), cap), jittered down by up to half so restarts of several
// plugins spread out.
func backoff(pcfg config.Plugins, n int) time.Duration {
	d := pcfg.BackoffBase
	for i := 1; i < n && d < pcfg.BackoffCap; i++ {
		d *= 2
	}
	d = min(d, pcfg.BackoffCap)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// supervise launches the plugin and keeps it running until sup is cancelled.
func (p *Plugin) supervise(sup *supervisor) {
	defer close(sup.done)
	defer sup.markFirst()
	log := p.m.log.With("provider", p.id)

	consecutive := 0
	for launches := 0; ; launches++ {
		if launches > 0 {
			p.mu.Lock()
			p.restarts++
			p.mu.Unlock()
			p.m.metrics.restarts.WithLabelValues(p.id).Inc()
		}
		p.setState(StateStarting)
		inst, err := p.launch(sup.ctx)
		if sup.ctx.Err() != nil {
			if inst != nil {
				inst.stop(0)
			}
			return
		}
		var began time.Time
		if err == nil {
			p.setRunning(inst)
			sup.markFirst()
			log.Info("plugin running", "pid", inst.pid, "restarts", launches)
			began = time.Now()
			err = p.watch(sup, inst)
			p.mu.Lock()
			// A reload warning is about this process ("keeps serving"): it goes with it.
			p.inst, p.pid, p.warning = nil, 0, ""
			p.mu.Unlock()
			if err == nil { // stopped on request
				inst.stop(StopGrace)
				return
			}
			inst.kill()
			log.Error("plugin down; restarting", "error", err, "pid", inst.pid)
		} else {
			log.Error("plugin start failed", "error", err)
		}

		exhausted := p.recordFailure(err)
		p.mu.Lock()
		pcfg := p.pcfg
		p.mu.Unlock()
		var permanent *startError
		giveUp := errors.As(err, &permanent) || exhausted
		if !began.IsZero() {
			p.m.restarted(Restart{Provider: p.id, Reason: err.Error(), PID: inst.pid, GaveUp: giveUp})
		}
		if giveUp {
			if exhausted && permanent == nil {
				log.Error("plugin failed too often; giving up until reload", "max_restarts", pcfg.MaxRestarts, "window", pcfg.RestartWindow)
			}
			p.setState(StateFailed)
			sup.markFirst()
			<-sup.ctx.Done()
			return
		}
		if !began.IsZero() && time.Since(began) >= pcfg.BackoffCap {
			consecutive = 0 // it ran steadily: this is a fresh incident
		}
		consecutive++
		p.setState(StateBackoff)
		sup.markFirst()
		if !sleep(sup.ctx, backoff(pcfg, consecutive)) {
			return
		}
	}
}

func (p *Plugin) setRunning(inst *instance) {
	p.mu.Lock()
	p.inst, p.pid, p.warning = inst, inst.pid, ""
	p.mu.Unlock()
	p.setState(StateRunning)
}
