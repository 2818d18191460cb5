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
	// swap is the planned restart (see beginSwap) this loop's first attempt ends, or nil.
	swap chan struct{}
}

func (s *supervisor) markFirst() { s.firstOnce.Do(func() { close(s.first) }) }

// firstAttempt reports the first start attempt over: the calls waiting for a planned
// restart's instance take it, or, if it did not start, are refused now rather than at
// their deadline. Called after setRunning, so a woken call finds the instance.
func (p *Plugin) firstAttempt(sup *supervisor) {
	p.endSwap(sup.swap)
	sup.markFirst()
}

// beginSwap marks a planned restart of a running plugin (a reload replacing its
// process) before the old process is stopped: until the new one runs or fails to start,
// a call that finds no instance waits for it instead of being refused (see acquire). A
// planned upgrade should not answer deliveries 503; a crash, a backoff or an
// unresponsive plugin still refuses at once, since nothing says when it will serve.
// It returns nil when the plugin is not running: there is nothing to keep serving.
func (p *Plugin) beginSwap() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.swap != nil {
		// An earlier swap still under way (its reload's context ended first, or its new
		// process runs and its loop has not said so yet): its waiters look again, and
		// wait on this one if there is one.
		close(p.swap)
		p.swap = nil
	}
	if p.inst == nil || p.state != StateRunning {
		return nil
	}
	p.swap = make(chan struct{})
	return p.swap
}

// endSwap ends the planned restart swap, if it is still the one under way, and wakes
// its waiters. Idempotent: every exit of the supervision loop calls it.
func (p *Plugin) endSwap(swap chan struct{}) {
	if swap == nil {
		return
	}
	p.mu.Lock()
	if p.swap == swap {
		p.swap = nil
		close(swap)
	}
	p.mu.Unlock()
}

// startSupervisor starts the supervision loop; swap, if not nil, is the planned restart
// its first attempt ends.
func (p *Plugin) startSupervisor(swap chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	sup := &supervisor{ctx: ctx, cancel: cancel, done: make(chan struct{}), first: make(chan struct{}), swap: swap}
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
	// Stopped before its first attempt ended (a Close, a disable): the waiters are
	// released, and find the provider gone.
	defer p.firstAttempt(sup)
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
			p.firstAttempt(sup)
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
			p.firstAttempt(sup)
			<-sup.ctx.Done()
			return
		}
		if !began.IsZero() && time.Since(began) >= pcfg.BackoffCap {
			consecutive = 0 // it ran steadily: this is a fresh incident
		}
		consecutive++
		p.setState(StateBackoff)
		p.firstAttempt(sup)
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
