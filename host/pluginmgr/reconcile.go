package pluginmgr

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
)

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
			// A new pin alone restarts nothing when the running process is the file it
			// pins: inspect checked the file against it, and the file's hash is the
			// process's. Pinning the running binaries of a host in production (README)
			// restarted every plugin, webhooks answering 503 meanwhile.
			restart = err != nil || flagsChanged(old, pc) || (sha != "" && cur != sha) ||
				(sha == "" && old.SHA256 != pc.SHA256)
		}
	}
	if restart {
		if sup != nil {
			log.Info("restarting provider", "previous_state", state)
		}
		swap := p.beginSwap()
		p.stopSupervisor()
		update()
		p.startSupervisor(swap)
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
		swap := p.beginSwap()
		p.stopSupervisor()
		p.startSupervisor(swap)
		return true
	}
	if err := p.configure(ctx, inst, pc); err != nil {
		log.Error("configure on reload failed; restarting", "error", err)
		swap := p.beginSwap()
		p.stopSupervisor()
		p.startSupervisor(swap)
		return true
	}
	return false
}

// configChanged reports whether a running plugin cannot keep serving under pc whatever
// its file holds. A file replaced in place (a rebuild, a deploy) is caught by comparing
// its hash with the running process's.
func configChanged(old, pc config.Provider) bool {
	return old.SHA256 != pc.SHA256 || flagsChanged(old, pc)
}

// flagsChanged is configChanged but for the pin: what a running process was started
// with (its binary and the capabilities the host asked of it) that a new block changes.
func flagsChanged(old, pc config.Provider) bool {
	return old.Binary != pc.Binary || old.Webhooks != pc.Webhooks ||
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
