package pluginmgr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
)

// EnvAllowList names the only host environment variables a plugin inherits (the SDK's
// contract). Everything a plugin needs beyond that arrives through Configure; an operator
// who must pass more (an egress proxy, say) names it in plugins { pass_env = [...] }.
var EnvAllowList = sdk.InheritedEnv

// exitPoll is how often a running plugin's process is checked for an exit; go-plugin
// offers no channel for it.
const exitPoll = 100 * time.Millisecond

// supervisor is one run of a provider's supervision loop, from a start to a stop.
type supervisor struct {
	ctx       context.Context // cancelled to stop
	cancel    context.CancelFunc
	done      chan struct{} // closed when the loop has returned and its process is gone
	first     chan struct{} // closed after the first start attempt
	firstOnce sync.Once
}

func (s *supervisor) markFirst() { s.firstOnce.Do(func() { close(s.first) }) }

// instance is one running plugin process.
type instance struct {
	client  *plugin.Client
	adapter *grpcplugin.Client
	pid     int
	ctx     context.Context // cancelled when the instance stops: aborts in-flight calls
	cancel  context.CancelFunc
	cleanup func() // removes a bundle's private copy once the process is gone
	// cmd is the process go-plugin runs and waits for: once it has exited, its
	// ProcessState says how (exit status 2 is a Go panic, signal: killed the OOM killer).
	cmd *exec.Cmd

	// suspect carries why a call hit its deadline; the watch loop probes at once.
	suspect chan string

	mu       sync.Mutex
	inflight int
	stopping bool
	drained  chan struct{}
	// hung is cancelled while the plugin is unresponsive, aborting the calls waiting on
	// it; a fresh one replaces it when the plugin answers again. It is derived from ctx,
	// so it also ends when the instance stops: a call watches this one context.
	hung   context.Context
	unhang context.CancelFunc
}

func newInstance(client *plugin.Client, cleanup func()) *instance {
	ctx, cancel := context.WithCancel(context.Background())
	hung, unhang := context.WithCancel(ctx)
	return &instance{client: client, ctx: ctx, cancel: cancel, cleanup: cleanup, suspect: make(chan string, 1), hung: hung, unhang: unhang}
}

// exitState is how the exited process ended, " (exit status 2)", or "" when unknown.
// go-plugin sets Exited only after its Wait returned, under the lock Exited takes, so
// ProcessState is complete here.
func (i *instance) exitState() string {
	if i.cmd == nil || i.cmd.ProcessState == nil {
		return ""
	}
	return " (" + i.cmd.ProcessState.String() + ")"
}

// markSuspect asks the watch loop to probe the plugin now; one pending ask is enough.
func (i *instance) markSuspect(why string) {
	select {
	case i.suspect <- why:
	default:
	}
}

func (i *instance) hungCtx() context.Context {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.hung
}

// setHung aborts the calls in flight (true), or lets new calls wait again (false).
func (i *instance) setHung(hung bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch {
	case hung:
		i.unhang()
	case i.hung.Err() != nil:
		i.hung, i.unhang = context.WithCancel(i.ctx)
	}
}

func (i *instance) acquire() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.stopping {
		return false
	}
	i.inflight++
	return true
}

func (i *instance) release() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.inflight--
	if i.stopping && i.inflight == 0 {
		close(i.drained)
	}
}

// beginStop refuses new calls and returns a channel closed once in-flight calls end.
func (i *instance) beginStop() <-chan struct{} {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.stopping {
		i.stopping = true
		i.drained = make(chan struct{})
		if i.inflight == 0 {
			close(i.drained)
		}
	}
	return i.drained
}

// stop ends the instance politely: in-flight calls get up to grace to finish, then are
// cancelled, and go-plugin asks the process to exit before killing it.
func (i *instance) stop(grace time.Duration) {
	select {
	case <-i.beginStop():
	case <-time.After(grace):
	}
	i.cancel()
	i.client.Kill()
	killGroup(i.pid)
	i.cleanup()
}

// kill ends an instance that crashed or hung, without waiting for it.
func (i *instance) kill() {
	i.beginStop()
	i.cancel()
	killProcess(i.pid)
	i.client.Kill()
	killGroup(i.pid)
	i.cleanup()
}

// reconcile applies a new config block and reports whether it started a supervisor.
func (p *Plugin) reconcile(ctx context.Context, pc config.Provider, pcfg config.Plugins, level string) (started bool) {
	p.mu.Lock()
	old, sup, state, sha := p.cfg, p.sup, p.state, p.sha
	p.removed = false
	p.mu.Unlock()

	// update puts pc in force, which resolves a refusal of an earlier block.
	update := func() {
		p.mu.Lock()
		p.cfg, p.pcfg, p.level = pc, pcfg, level
		p.caps = judgeCaps(pcfg)
		p.refused = ""
		p.mu.Unlock()
		p.m.metrics.setRefused(p.id, false)
	}
	log := p.m.log.With("provider", p.id)

	if !pc.Enabled {
		if sup != nil {
			log.Info("stopping disabled provider")
		}
		p.stopSupervisor()
		update()
		p.setState(StateDisabled)
		return false
	}
	p.mu.Lock()
	inst := p.inst
	p.mu.Unlock()
	restart := sup == nil || state == StateFailed
	kept := false
	if !restart {
		// What would a launch run now, and would it start? Asked before anything is
		// stopped: a running plugin is replaced only by one that passes every check.
		cur, err := p.m.inspect(pc, pcfg)
		switch {
		case err != nil && inst != nil && configChanged(old, pc):
			p.refuseBlock(log, sha, err)
			return false
		case err != nil && inst != nil:
			// A stale pin (the file changed, the pin did not) or a bundle edited without
			// its manifest: nothing a restart could start, so the process stays.
			p.keepRunning(log, sha, err)
			kept = true
		default:
			restart = err != nil || configChanged(old, pc) || (sha != "" && cur != sha)
		}
	}
	if restart {
		if sup != nil {
			log.Info("restarting provider", "previous_state", state)
		}
		p.stopSupervisor()
		update()
		p.startSupervisor()
		return true
	}
	if !kept {
		p.mu.Lock()
		p.warning = ""
		p.mu.Unlock()
	}

	// Same binary and flags: keep the process. New deadlines apply to the next call;
	// settings and secrets are delivered again, as the contract promises on reload.
	update()
	if inst == nil {
		return false // starting or backing off: the next launch reads the new block
	}
	if err := p.checkConfig(pc); err != nil {
		log.Error("the new config block does not fit the running plugin; restarting to report it", "error", err)
		p.stopSupervisor()
		p.startSupervisor()
		return true
	}
	if err := p.configure(ctx, inst, pc); err != nil {
		log.Error("configure on reload failed; restarting", "error", err)
		p.stopSupervisor()
		p.startSupervisor()
		return true
	}
	return false
}

// configChanged reports whether a running plugin cannot keep serving under pc whatever
// its file holds. A file replaced in place (a rebuild, a deploy) is caught by comparing
// its hash with the running process's.
func configChanged(old, pc config.Provider) bool {
	return old.Binary != pc.Binary || old.SHA256 != pc.SHA256 || old.Webhooks != pc.Webhooks ||
		old.Poll != pc.Poll || old.Access != pc.Access || !old.Enabled
}

// inspect checks pc's plugin as a launch would, without starting or copying anything,
// and returns its hash.
func (m *Manager) inspect(pc config.Provider, pcfg config.Plugins) (string, error) {
	m.mu.Lock()
	pluginDir := m.cfg.PluginDir
	m.mu.Unlock()
	art, err := prepare(pluginDir, pc, pcfg, false)
	if err != nil {
		return "", err
	}
	return art.sha, nil
}

// keepRunning reports a reload that cannot restart the running plugin. It is logged
// and kept in the status (admin API, plugins check, Reload's error) until a launch or
// a reload that has nothing to report clears it.
func (p *Plugin) keepRunning(log hclog.Logger, runningSHA string, err error) {
	msg := fmt.Sprintf("reload did not restart the plugin; the running process (sha256 %s) keeps serving: %v", runningSHA, err)
	log.Error("reload did not restart the plugin; the running process keeps serving", "running_sha256", runningSHA, "error", err)
	p.mu.Lock()
	p.warning = msg
	p.mu.Unlock()
}

// refuseBlock reports a reload whose new config block for this provider cannot start,
// so the running process keeps serving under the previous block. The refusal is of the
// block, not of the process: it stays (status, readiness, metric) when that process
// dies and is restarted from the previous block, until a reload puts a block in force.
func (p *Plugin) refuseBlock(log hclog.Logger, runningSHA string, err error) {
	msg := fmt.Sprintf("the new config block is not applied; the provider runs its previous block (process sha256 %s) until a reload fixes it: %v", runningSHA, err)
	log.Error("the new config block is not applied; the provider runs its previous block", "running_sha256", runningSHA, "error", err)
	p.mu.Lock()
	p.refused = msg
	p.mu.Unlock()
	p.m.metrics.setRefused(p.id, true)
}

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

// launch starts the plugin process, checks its Describe answer against the config and
// configures it.
func (p *Plugin) launch(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	pc, pcfg, level := p.cfg, p.pcfg, p.level
	p.mu.Unlock()
	p.m.mu.Lock()
	pluginDir := p.m.cfg.PluginDir
	p.m.mu.Unlock()

	art, err := prepare(pluginDir, pc, pcfg, true)
	if err != nil {
		return nil, &startError{err}
	}
	started := false
	defer func() {
		if !started {
			art.cleanup()
		}
	}()

	cmd := exec.Command(art.path, art.args...)
	cmd.Dir = art.dir
	// go-plugin's own lines (the exit line) carry the provider too; the plugin's stderr
	// goes through a relay that a malformed log line cannot panic.
	logger, stderr := grpcplugin.Logging(p.m.log.Named(p.id).With("provider", p.id), cmd.Path)
	cmd.Env = pluginEnv(level, pcfg.PassEnv)
	cmd.SysProcAttr = sysProcAttr()
	cc := &plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: grpcplugin.VersionedPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     pcfg.StartTimeout,
		Logger:           logger,
		Stderr:           stderr,
		GRPCDialOptions:  p.dialOptions(pcfg.MaxMessageBytes),
	}
	if pc.SHA256 != "" && !art.bundle {
		// go-plugin checks again right before exec, narrowing the window for a swap
		// before anything runs; executedSHA256 below closes it. (A bundle runs from its
		// private copy, which nobody else can swap.)
		want, _ := hex.DecodeString(pc.SHA256)
		cc.SecureConfig = &plugin.SecureConfig{Checksum: want, Hash: sha256.New()}
	}
	client := plugin.NewClient(cc)
	if _, err := client.Start(); err != nil {
		client.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, &startError{fmt.Errorf("sha256 mismatch: %w", err)}
		}
		if strings.HasPrefix(err.Error(), "timeout while waiting for plugin to start") {
			// go-plugin's words name no clock: say which one ran out, and so what to raise
			// for a plugin that is slow to start (an interpreter loading its modules).
			err = fmt.Errorf("%w: no handshake line within plugins.start_timeout (%v)", err, pcfg.StartTimeout)
		}
		// The plugin's last stderr lines say why it died before the handshake.
		return nil, fmt.Errorf("start plugin: %w", grpcplugin.StartError(err, stderr))
	}
	inst := newInstance(client, art.cleanup)
	inst.cmd = cmd
	started = true
	if rc := client.ReattachConfig(); rc != nil {
		inst.pid = rc.Pid
	}
	fail := func(err error) (*instance, error) {
		inst.kill()
		return nil, err
	}
	if !art.bundle && !art.script {
		// The hash that was checked is of the path before exec; a rename in between
		// would run another file. Hash what the process actually executes (the kernel
		// refuses writes to it while it runs) and refuse anything else. (A #! script's
		// process executes its interpreter: there the pre-exec hash is all there is.)
		got, ok, err := executedSHA256(inst.pid)
		switch {
		case err != nil:
			return fail(fmt.Errorf("hash the executed plugin binary: %w", err))
		case ok && got != art.sha:
			return fail(fmt.Errorf("%s changed while it was being started: checked sha256 %s, the process runs %s", pc.Binary, art.sha, got))
		}
	}
	p.mu.Lock()
	p.sha = art.sha
	p.mu.Unlock()

	rpc, err := client.Client()
	if err != nil {
		return fail(fmt.Errorf("connect to plugin: %w", err))
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		return fail(fmt.Errorf("dispense plugin: %w", err))
	}
	adapter, ok := raw.(*grpcplugin.Client)
	if !ok {
		return fail(&startError{fmt.Errorf("dispense plugin: unexpected %T", raw)})
	}
	batches := p.m.metrics.batches.WithLabelValues(p.id)
	adapter.ObserveIngestBatches(func(n int) { batches.Observe(float64(n)) })
	inst.adapter = adapter

	dctx, dcancel := context.WithTimeout(ctx, pc.Timeouts.Describe)
	desc, err := adapter.Describe(dctx)
	if err != nil && deadlinePassed(dctx) && ctx.Err() == nil {
		err = fmt.Errorf("no answer within the provider's timeouts.describe (%v): %w", pc.Timeouts.Describe, err)
	}
	dcancel()
	if err != nil {
		return fail(fmt.Errorf("describe: %w", err))
	}
	// Over a cap, the description is refused before it is judged against the config: a
	// plugin declaring 10,000 options would otherwise fill the reason with 10,000 lines.
	if err := p.refuseDescription(desc); err != nil {
		return fail(&startError{fmt.Errorf("describe: %w", err)})
	}
	if err := checkDescription(desc, pc); err != nil {
		return fail(&startError{err})
	}
	p.mu.Lock()
	p.desc = &desc
	p.mu.Unlock()

	if err := p.configure(ctx, inst, pc); err != nil {
		if k := sdk.KindOf(err); k == sdk.KindPermanent || k == sdk.KindInvalidInput {
			return fail(&startError{err})
		}
		return fail(err)
	}
	return inst, nil
}

func (p *Plugin) configure(ctx context.Context, inst *instance, pc config.Provider) error {
	if !inst.acquire() {
		return fmt.Errorf("%w: %s is stopping", ErrUnavailable, p.id)
	}
	defer inst.release()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, pc.Timeouts.Configure)
	defer cancel()
	stop := context.AfterFunc(inst.ctx, cancel)
	defer stop()
	settings := pc.Settings
	p.mu.Lock()
	if p.desc != nil {
		settings = withDefaults(*p.desc, settings)
	}
	p.mu.Unlock()
	if err := inst.adapter.Configure(ctx, sdk.ConfigureRequest{Settings: settings, Secrets: pc.Secrets}); err != nil {
		if deadlinePassed(ctx) && parent.Err() == nil && inst.ctx.Err() == nil {
			// Say which clock ran out, and so what an operator may raise for a plugin
			// that checks its settings against the provider at start.
			return fmt.Errorf("configure: no answer within the provider's timeouts.configure (%v): %w", pc.Timeouts.Configure, err)
		}
		return fmt.Errorf("configure: %w", err)
	}
	return nil
}

// checkConfig checks a new config block against the running plugin's description.
func (p *Plugin) checkConfig(pc config.Provider) error {
	p.mu.Lock()
	desc := p.desc
	p.mu.Unlock()
	if desc == nil {
		return nil
	}
	return checkDescription(*desc, pc)
}

// checkDescription refuses a plugin whose own description contradicts its config block.
// What it judges of the description and of the block's settings is sdk's (Check,
// CheckDeclarations, CheckConfig), which the conformance kit calls too: one judge.
func checkDescription(d sdk.Description, pc config.Provider) error {
	var errs []error
	if d.ID != pc.ID {
		errs = append(errs, fmt.Errorf("plugin describes itself as %q, but its config block is provider %q", d.ID, pc.ID))
	}
	if err := d.Check(); err != nil {
		errs = append(errs, err)
	}
	if err := d.CheckDeclarations(); err != nil {
		errs = append(errs, err)
	}
	if pc.Webhooks && !d.Capabilities.Webhook {
		errs = append(errs, errors.New("config enables webhooks but the plugin does not offer them"))
	}
	if pc.Poll && !d.Capabilities.Poll {
		errs = append(errs, errors.New("config enables poll but the plugin cannot poll"))
	}
	if pc.Access == config.AccessReadWrite && !d.Capabilities.Write {
		errs = append(errs, errors.New(`config sets access = "read-write" but the plugin has no write capability`))
	}
	if err := d.CheckConfig(pc.Settings, pc.Secrets); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("plugin contradicts its config: %w", errors.Join(errs...))
	}
	return nil
}

// pluginEnv is a plugin's whole environment: the allow-listed and passed variables the
// host has, host.GODEBUG unless GODEBUG is among those (the operator's replaces it
// whole), and the log level.
func pluginEnv(level string, passEnv []string) []string {
	var env []string
	godebug := false
	for _, k := range append(EnvAllowList[:len(EnvAllowList):len(EnvAllowList)], passEnv...) {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
			godebug = godebug || k == "GODEBUG"
		}
	}
	if !godebug {
		env = append(env, "GODEBUG="+host.GODEBUG)
	}
	return append(env, sdk.LogLevelEnv+"="+level)
}

// deadlinePassed reports whether ctx's own deadline has passed, even if its timer has
// not fired yet (grpcplugin.ContextEnded): the error must still name the clock that ran
// out.
func deadlinePassed(ctx context.Context) bool {
	return errors.Is(grpcplugin.ContextEnded(ctx), context.DeadlineExceeded)
}
