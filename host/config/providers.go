package config

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/poolhost/poolhost/sdk/command"
)

var (
	providerIDRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	sha256Re     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func (d *decoder) provider(id string, s section, c *Config) Provider {
	if !providerIDRe.MatchString(id) {
		d.errorf(s.def.Ptr(), "Invalid provider id", "provider id %q must be lowercase letters, digits, '-' or '_', starting with a letter", id)
	}
	p := Provider{
		ID:           id,
		Enabled:      d.boolean(s.attr("enabled"), true),
		Stage:        d.oneOf(s.attr("stage"), StageGA, StagePilot, StageGA),
		PilotUsers:   d.stringList(s.attr("pilot_users")),
		Access:       d.oneOf(s.attr("access"), AccessReadOnly, AccessReadOnly, AccessReadWrite),
		Webhooks:     d.boolean(s.attr("webhooks"), false),
		Poll:         d.boolean(s.attr("poll"), false),
		PollInterval: d.duration(s.attr("poll_interval"), DefaultPollInterval),
		Settings:     d.stringMap(s.attr("settings")),
		Commands:     d.stringList(s.attr("commands")),
		Timeouts:     DefaultTimeouts,
	}
	if !p.Enabled {
		d.disabledProvider = id
	}
	p.Secrets = d.secretMap(s.attr("secrets"))
	d.disabledProvider = ""
	for _, name := range p.Commands {
		if _, ok := command.Lookup(name); !ok {
			d.errorf(s.attr("commands").Expr.Range().Ptr(), "Unknown command", "%q is not a poolhost command (known: %s)", name, strings.Join(command.Names(), ", "))
		}
	}
	// Half an approval sends nothing, and said nothing: an operator who set one half
	// and not the other learned it from each command failing "no longer approved".
	switch {
	case p.Access == AccessReadWrite && len(p.Commands) == 0:
		d.warnf(s.attr("access").Expr.Range(), "provider %q has access = %q and no commands: it may send none until commands names them", id, AccessReadWrite)
	case p.Access != AccessReadWrite && len(p.Commands) > 0:
		d.warnf(s.attr("commands").Expr.Range(), "provider %q names commands but its access is %q: none is sent until access = %q", id, p.Access, AccessReadWrite)
	}
	p.Timeouts.Health = c.Plugins.HealthTimeout

	bin := d.str(s.attr("binary"), BinaryPrefix+id)
	if bin == "" {
		d.errorf(s.attr("binary").Expr.Range().Ptr(), "Invalid binary", "binary must not be empty")
	}
	if !filepath.IsAbs(bin) {
		bin = filepath.Join(c.PluginDir, bin)
	}
	p.Binary = filepath.Clean(bin)

	p.SHA256 = strings.ToLower(d.str(s.attr("sha256"), ""))
	if s.attr("sha256") != nil && !sha256Re.MatchString(p.SHA256) {
		d.errorf(s.attr("sha256").Expr.Range().Ptr(), "Invalid sha256", "sha256 must be 64 hex characters (the output of `poolhost plugins pin`)")
	}
	if c.Plugins.RequirePin && p.Enabled && s.attr("sha256") == nil {
		d.errorf(s.def.Ptr(), "Missing sha256", "plugins { require_pin = true }: provider %q needs sha256 = \"<output of poolhost plugins pin %s>\"", id, p.Binary)
	}

	if t, ok := d.single(s.blocks, "timeouts", timeoutsSchema); ok {
		p.Timeouts.Describe = d.duration(t.attr("describe"), p.Timeouts.Describe)
		p.Timeouts.Configure = d.duration(t.attr("configure"), p.Timeouts.Configure)
		p.Timeouts.Connect = d.duration(t.attr("connect"), p.Timeouts.Connect)
		p.Timeouts.Callback = d.duration(t.attr("callback"), p.Timeouts.Callback)
		p.Timeouts.Discover = d.duration(t.attr("discover"), p.Timeouts.Discover)
		p.Timeouts.VerifyWebhook = d.duration(t.attr("verify_webhook"), p.Timeouts.VerifyWebhook)
		p.Timeouts.Webhook = d.duration(t.attr("webhook"), p.Timeouts.Webhook)
		p.Timeouts.Poll = d.duration(t.attr("poll"), p.Timeouts.Poll)
		p.Timeouts.Health = d.duration(t.attr("health"), p.Timeouts.Health)
		p.Timeouts.SendCommand = d.duration(t.attr("send_command"), p.Timeouts.SendCommand)
	}
	return p
}
