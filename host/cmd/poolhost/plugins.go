package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/sdk"
)

// runPlugins is `poolhost plugins check --config FILE`: it launches every enabled
// plugin exactly as serve would (pin, Describe checked against the config, Configure),
// asks each for its Health, prints one row per provider and exits non-zero if any
// enabled provider is not healthy. Operators run it before a deploy.
func runPlugins(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "usage: poolhost plugins check [--config FILE]\n\n" +
		"Launches every enabled plugin as serve would, prints one row per provider, and\n" +
		"exits 1 if any enabled provider is not running and healthy.\n"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("plugins check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", defaultConfig, "configuration `file`")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "poolhost plugins check: %v\n", err)
		return 1
	}
	log := newLogger(cfg, stderr)
	m := pluginmgr.New(log, nil, cfg)
	defer m.Close()
	// Start's error names the providers that did not start; the table says the same
	// with each one's reason.
	_ = m.Start(ctx)

	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "PROVIDER\tVERSION\tPROTOCOL\tCAPABILITIES\tSHA256\tSTATE\tERROR")
	failed := 0
	for _, st := range m.Statuses() {
		state, problem := string(st.State), st.LastError
		if st.Enabled {
			if st.State == pluginmgr.StateRunning {
				p, err := m.Get(st.Provider)
				if err == nil {
					err = p.Health(ctx)
				}
				if err != nil {
					state, problem = "unhealthy", err.Error()
				}
			}
			if state != string(pluginmgr.StateRunning) {
				failed++
			}
		}
		proto := ""
		if st.ProtocolVersion != 0 {
			proto = fmt.Sprint(st.ProtocolVersion)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.Provider, dash(st.Version), dash(proto),
			dash(capabilities(st)), dash(st.SHA256), state, oneLine(problem))
	}
	_ = w.Flush()

	if failed > 0 {
		fmt.Fprintf(stderr, "poolhost plugins check: %d enabled provider(s) not healthy\n", failed)
		return 1
	}
	return 0
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
	return strings.Join(strings.Fields(s), " ")
}
