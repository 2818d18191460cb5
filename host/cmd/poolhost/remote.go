package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
)

// The commands here talk to a running host through its admin API, as Vault's and
// Nomad's do: --addr and --token default to $POOLHOST_ADDR and $POOLHOST_TOKEN, so a
// token never has to appear on a command line (or in shell history).

const defaultAddr = "http://127.0.0.1:8080"

// remote is the address and token of a running host.
type remote struct {
	addr  *string
	token *string
}

func remoteFlags(c *cobra.Command) remote {
	addr := os.Getenv("POOLHOST_ADDR")
	if addr == "" {
		addr = defaultAddr
	}
	return remote{
		addr: c.Flags().String("addr", addr, "the host's base `URL`: $POOLHOST_ADDR, else "+defaultAddr),
		// No default shown: help must not print a token from the environment.
		token: c.Flags().String("token", "", "an admin API `token` (default: $POOLHOST_TOKEN)"),
	}
}

// problem is an RFC 9457 problem answer, with the config diagnostics a reload adds.
type problem struct {
	Title       string              `json:"title"`
	Status      int                 `json:"status"`
	Detail      string              `json:"detail"`
	Diagnostics []config.Diagnostic `json:"diagnostics"`
}

// call sends one admin request and decodes a 2xx answer into out. Any other answer is
// an error saying what the host said.
func (r remote) call(ctx context.Context, method, path string, out any) error {
	token := *r.token
	if token == "" {
		token = os.Getenv("POOLHOST_TOKEN")
	}
	if token == "" {
		return usagef("no admin token: set POOLHOST_TOKEN or pass --token")
	}
	// "127.0.0.1:8080" or "localhost:8080" without a scheme failed as a URL parse
	// error or an "unsupported protocol scheme" at the host.
	if u, err := url.Parse(*r.addr); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--addr (or POOLHOST_ADDR) %q must be the host's base URL, e.g. http://127.0.0.1:8080", *r.addr)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(*r.addr, "/")+path, nil)
	if err != nil {
		return usagef("bad --addr: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// The address is the default or the environment's, not the config's listen
		// (these commands read no config): say how to name another.
		return fmt.Errorf("is poolhost serving at %s? (--addr or POOLHOST_ADDR names the host's base URL, its config's listen) %w", *r.addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var p problem
		if json.Unmarshal(body, &p) != nil || p.Title == "" {
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		msg := fmt.Sprintf("%s (%d)", p.Title, resp.StatusCode)
		if p.Detail != "" {
			msg += ": " + p.Detail
		}
		for _, d := range p.Diagnostics {
			msg += "\n  " + d.String()
		}
		return errors.New(msg)
	}
	return json.Unmarshal(body, out)
}

// remoteProvider is a provider as GET /v1/admin/providers shows it: the host's own
// type, so that --format json passes on every field it answers. A copy of the struct
// once left out reloadWarning and pendingConfigRefused, and a host degraded by a refused
// pin listed its providers here as running with no error.
type remoteProvider = connect.ProviderStatus

// providerTable prints one line per provider. ERROR holds what is wrong with it: the
// plugin's last error, and a config block the host has not put in force or a reload that
// left the old process running (reloadWarning), which keep a running plugin degraded.
func providerTable(w io.Writer, ps []remoteProvider) {
	fmt.Fprintln(w, "PROVIDER\tENABLED\tSTAGE\tSTATE\tSINCE\tRESTARTS\tVERSION\tERROR")
	for _, p := range ps {
		since := "-"
		if p.Since != nil {
			since = p.Since.UTC().Format(time.RFC3339)
		}
		// lastError outlives the failure it reports (the admin API's "last error"): on a
		// plugin running again, after a restart or a reload that fixed its block, it is
		// history, not what is wrong now.
		last := p.LastError
		if last != "" && p.State == "running" {
			last = "earlier: " + last
		}
		var problems []string
		for _, s := range []string{last, p.PendingConfigRefused, p.ReloadWarning} {
			if s = oneLine(s); s != "" {
				problems = append(problems, s)
			}
		}
		fmt.Fprintf(w, "%s\t%t\t%s\t%s\t%s\t%d\t%s\t%s\n", p.ID, p.Enabled, dash(p.Stage), dash(p.State), since, p.Restarts, dash(p.Version), strings.Join(problems, " | "))
	}
}

// reloadResult is POST /v1/admin/reload's answer.
type reloadResult struct {
	Changed         []string         `json:"changed"`
	RestartRequired []string         `json:"restartRequired"`
	Warnings        []string         `json:"warnings"`
	Recovered       []string         `json:"recovered"`
	Providers       []remoteProvider `json:"providers"`
}

func init() {
	register("", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "providers [flags]",
			Short: "list a running host's providers with their live plugin states",
			Long: `providers asks a running host (GET /v1/admin/providers) for every configured provider
and the live state of its plugin: running, starting, backoff, unresponsive, failed or
disabled. ERROR says what is wrong with one: its plugin's last error, a config block
a reload could not put in force (pendingConfigRefused: the provider runs its previous
block, and the host is degraded), or a reload that left the old process running
(reloadWarning, e.g. a stale sha256 pin).`,
			Example: `  export POOLHOST_ADDR=https://poolhost.example.com POOLHOST_TOKEN=pht_…
  poolhost providers
  poolhost providers --format json | jq '.[] | select(.state != "running" or .pendingConfigRefused or .reloadWarning)'`,
		}
		rem := remoteFlags(c)
		f := formatFlag(c)
		c.RunE = func(c *cobra.Command, _ []string) error {
			var out struct {
				Providers []remoteProvider `json:"providers"`
			}
			if err := rem.call(c.Context(), http.MethodGet, "/v1/admin/providers", &out); err != nil {
				return err
			}
			return f.write(c.OutOrStdout(), out.Providers, func(w io.Writer) { providerTable(w, out.Providers) })
		}
		return c
	})
	register("", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "reload [flags]",
			Short: "make a running host re-read its config file, and say what changed",
			Long: `reload asks a running host (POST /v1/admin/reload, audited) to re-read its config file,
as SIGHUP does. It prints the settings that changed, the ones that need a restart to take
effect, and the providers afterwards. A file with errors changes nothing: reload prints
its diagnostics and exits 1, and the host keeps running with the configuration it had.
It also exits 1, after printing all that, when the file is not in force for an enabled
provider: its new block refused (a wrong sha256: it runs its previous one), a new
binary left unrun (its pin not updated), or a block the reload changed whose plugin is
not running.`,
			Example: `  POOLHOST_TOKEN=pht_… poolhost reload
  poolhost reload --addr http://10.0.0.5:8080 --format json`,
		}
		rem := remoteFlags(c)
		f := formatFlag(c)
		c.RunE = func(c *cobra.Command, _ []string) error {
			var out reloadResult
			if err := rem.call(c.Context(), http.MethodPost, "/v1/admin/reload", &out); err != nil {
				return err
			}
			// The file is in force, but not everywhere it asks: exit 1 (after printing
			// the answer), so a deploy step that edits a pin and reloads stops there. A
			// refused new pin or a binary left unrun used to exit 0 like a clean reload.
			var astray error
			if off := notAsConfigured(out); len(off) > 0 {
				astray = fmt.Errorf("the configuration is reloaded, but %d provider(s) do not run as it asks: %s", len(off), strings.Join(off, "; "))
			}
			if *f == "json" {
				if err := f.write(c.OutOrStdout(), out, nil); err != nil {
					return err
				}
				return astray
			}
			w := c.OutOrStdout()
			if len(out.Changed) == 0 {
				fmt.Fprintln(w, "reloaded: nothing changed")
			} else {
				fmt.Fprintf(w, "reloaded: %s\n", strings.Join(out.Changed, ", "))
			}
			if len(out.Recovered) > 0 {
				fmt.Fprintf(w, "restarted, failed before: %s\n", strings.Join(out.Recovered, ", "))
			}
			for _, s := range out.RestartRequired {
				fmt.Fprintf(w, "needs a restart: %s\n", s)
			}
			// A warning may carry a plugin's error, and with it a provider's words (a
			// discovery that failed on reload): printed as one line with its control
			// characters escaped, as the ERROR column is, never obeyed by the terminal.
			for _, s := range out.Warnings {
				fmt.Fprintf(w, "warning: %s\n", oneLine(s))
			}
			var b bytes.Buffer
			_ = f.write(&b, out.Providers, func(tw io.Writer) { providerTable(tw, out.Providers) })
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
			return astray
		}
		return c
	})
}

// notAsConfigured names each enabled provider for which a reload did not put the file
// in force: its new block refused (pendingConfigRefused: it runs its previous one), a
// new file left unrun (reloadWarning: a stale pin), or a block this reload changed (or
// added) whose plugin is not running. A provider failing before, its block unchanged,
// is in the table and the warning, not in the exit status.
func notAsConfigured(rep reloadResult) []string {
	var off []string
	for _, p := range rep.Providers {
		switch {
		case !p.Enabled:
		case p.PendingConfigRefused != "":
			off = append(off, p.ID+": its new block is not applied")
		case p.ReloadWarning != "":
			off = append(off, p.ID+": kept on its old process")
		case p.State != "running" && slices.Contains(rep.Changed, "provider."+p.ID):
			off = append(off, p.ID+": "+p.State)
		}
	}
	return off
}
