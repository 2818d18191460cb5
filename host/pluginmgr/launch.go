package pluginmgr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

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
	// refuse ends a plugin that answered but is refused (its description, or its
	// Configure's verdict) politely, as a stop does: killed, its exit was logged as a
	// crash ("plugin process exited ... error=\"signal: killed\"" at ERROR) under the
	// refusal in plugins check and the host's log, sending its team looking for a crash.
	refuse := func(err error) (*instance, error) {
		inst.stop(0)
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
		return refuse(&startError{fmt.Errorf("describe: %w", err)})
	}
	if err := checkDescription(desc, pc); err != nil {
		return refuse(&startError{err})
	}
	p.mu.Lock()
	p.desc = &desc
	p.mu.Unlock()

	if err := p.configure(ctx, inst, pc); err != nil {
		if k := sdk.KindOf(err); k == sdk.KindPermanent || k == sdk.KindInvalidInput {
			return refuse(&startError{err})
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
