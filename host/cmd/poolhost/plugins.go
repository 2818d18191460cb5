package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/sdk"
)

func init() {
	registerGroup("plugins", "check and manage the provider plugins", "", "")
	register("plugins", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "check [flags]",
			Short: "launch every enabled plugin as serve would and report its health",
			// What an operator looking for the plugins' table types first ("list"
			// suggested test, its nearest name).
			SuggestFor: []string{"list", "ls", "status", "show"},
			Long: `check launches every enabled plugin exactly as serve would (pin, Describe checked
against the config, Configure), asks each for its Health, prints one row per provider
and exits 1 if any enabled provider is not healthy. Run it before a deploy. It opens no
database, so a config holding only provider blocks (no database_url, no
credentials_key) is enough to check a plugin binary with its settings.`,
			Example: `  poolhost plugins check --config /etc/poolhost/poolhost.hcl
  poolhost plugins check --format json | jq '.[] | select(.state != "running")'`,
		}
		configPath := configFlag(c)
		f := formatFlag(c)
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			return runPluginsCheck(ctx, *configPath, *f, stdout, stderr)
		})
		return c
	})
}

// runPluginsCheck is `poolhost plugins check`.
func runPluginsCheck(ctx context.Context, configPath string, f format, stdout, stderr io.Writer) int {
	cfg, err := config.LoadPlugins(configPath) // no database_url or credentials_key needed: it opens neither
	if err != nil {
		fmt.Fprintf(stderr, "poolhost plugins check: %v\n", err)
		return 1
	}
	for _, pc := range cfg.Providers {
		if launcherOnly, _ := pluginmgr.LauncherOnlyPin(pc); launcherOnly && pc.Enabled {
			fmt.Fprintf(stderr, "poolhost plugins check: warning: provider %q pins %s, a #! launcher script: the pin covers the launcher only, not the code it loads; pin a bundle instead (PLUGINS.md, Bundles)\n", pc.ID, pc.Binary)
		}
	}
	// The supervisors log to stderr from their goroutines while this prints to it too.
	stderr = &syncWriter{w: stderr}
	log := newLogger(cfg, stderr)
	// The table is the answer: the supervisors' Info lines (each plugin running, then
	// each process exited as the check stops it) only trailed it, ten lines for five
	// plugins. Warnings and errors stay; log_level = "debug" shows everything.
	if log.GetLevel() > hclog.Debug && log.GetLevel() < hclog.Warn {
		log.SetLevel(hclog.Warn)
	}
	m := pluginmgr.New(log, nil, cfg)
	defer m.Close()
	// Start's error names the providers that did not start; the table says the same
	// with each one's reason.
	_ = m.Start(ctx)

	type row struct {
		pluginmgr.Status
		// Shadows Status's sdk.Capabilities, whose JSON has Go's field names and a
		// duration in nanoseconds: the rest of this document is snake_case.
		Capabilities *capabilitiesJSON `json:"capabilities,omitempty"`
		Healthy      bool              `json:"healthy"`
	}
	var rows []row
	failed := 0
	for _, st := range m.Statuses() {
		r := row{Status: st}
		if st.ProtocolVersion != 0 {
			c := st.Capabilities
			r.Capabilities = &capabilitiesJSON{Connect: string(c.Connect), Webhook: c.Webhook, Poll: c.Poll,
				MinPollIntervalSeconds: c.MinPollInterval.Seconds(), Write: c.Write, Commands: c.Commands, SignatureHeaders: c.SignatureHeaders}
			if r.Capabilities.Connect == "" {
				r.Capabilities.Connect = string(sdk.ConnectNone)
			}
		}
		if st.Enabled {
			if st.State == pluginmgr.StateRunning {
				p, err := m.Get(st.Provider)
				if err == nil {
					err = p.Health(ctx)
				}
				if err != nil {
					r.State, r.LastError = "unhealthy", err.Error()
				} else {
					r.Healthy = true
				}
			}
			if r.State != pluginmgr.StateRunning {
				failed++
			}
		}
		rows = append(rows, r)
	}
	_ = f.write(stdout, rows, func(w io.Writer) {
		fmt.Fprintln(w, "PROVIDER\tVERSION\tPROTOCOL\tCAPABILITIES\tSHA256\tSTATE\tERROR")
		for _, r := range rows {
			proto := ""
			if r.ProtocolVersion != 0 {
				proto = fmt.Sprint(r.ProtocolVersion)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Provider, dash(r.Version), dash(proto),
				dash(capabilities(r.Status)), dash(r.SHA256), r.State, oneLine(r.LastError))
		}
	})

	if failed > 0 {
		fmt.Fprintf(stderr, "poolhost plugins check: %d enabled provider(s) not healthy\n", failed)
		return 1
	}
	return 0
}

// capabilitiesJSON is a plugin's capabilities in `plugins check --format json`.
type capabilitiesJSON struct {
	Connect                string   `json:"connect"`
	Webhook                bool     `json:"webhook"`
	Poll                   bool     `json:"poll"`
	MinPollIntervalSeconds float64  `json:"min_poll_interval_seconds,omitempty"`
	Write                  bool     `json:"write"`
	Commands               []string `json:"commands,omitempty"`
	SignatureHeaders       []string `json:"signature_headers,omitempty"`
}

func capabilities(st pluginmgr.Status) string {
	if st.ProtocolVersion == 0 {
		return ""
	}
	c := st.Capabilities
	parts := []string{"connect=" + string(c.Connect)}
	if c.Connect == "" {
		parts[0] = "connect=" + string(sdk.ConnectNone)
	}
	if c.Webhook {
		parts = append(parts, "webhook")
	}
	if c.Poll {
		p := "poll"
		if c.MinPollInterval > 0 {
			p += "(min=" + c.MinPollInterval.String() + ")" // no spaces: the table is split on whitespace by scripts
		}
		parts = append(parts, p)
	}
	if c.Write {
		parts = append(parts, "write")
	}
	return strings.Join(parts, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	return termSafe(strings.Join(strings.Fields(s), " "))
}
