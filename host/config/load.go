package config

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// Error carries every problem found in a configuration file. Each line reads
// "file:line,col-col: summary; detail".
type Error struct {
	Diagnostics hcl.Diagnostics
}

// Error lists the problems in file order, so a file's mistakes read top to bottom.
func (e *Error) Error() string {
	var b strings.Builder
	diags := slices.Clone(e.Diagnostics)
	slices.SortStableFunc(diags, func(x, y *hcl.Diagnostic) int {
		if x.Subject == nil || y.Subject == nil {
			return 0
		}
		return cmp.Or(cmp.Compare(x.Subject.Filename, y.Subject.Filename), cmp.Compare(x.Subject.Start.Byte, y.Subject.Start.Byte))
	})
	for i, d := range diags.Errs() {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(d.Error())
	}
	return b.String()
}

// Load reads, decodes and validates the configuration file at path. A returned error of
// type *Error lists every problem found, each with its file and line.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, src)
}

// Parse decodes and validates src as if read from path (file() is resolved against
// path's directory).
func Parse(path string, src []byte) (*Config, error) {
	return parse(path, src, false)
}

// LoadPlugins is [Load] for commands that only launch plugins (`poolhost plugins
// check`): database_url and credentials_key may be absent, so a provider team can check
// its binary with a config holding nothing but provider blocks. When present they are
// still validated.
func LoadPlugins(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(path, src, true)
}

func parse(path string, src []byte, pluginsOnly bool) (*Config, error) {
	file, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, &Error{diags}
	}
	d := &decoder{pluginsOnly: pluginsOnly, envRead: map[string]bool{}}
	d.ctx = evalContext(filepath.Dir(path), d.envRead)
	// An unknown attribute or block is reported and decoding goes on with the rest, so
	// one run lists every mistake in the file, not the first of each level.
	root, ok := d.section(file.Body, rootSchema, hcl.Range{Filename: path})
	if !ok {
		return nil, &Error{d.diags}
	}
	cfg := d.config(root)
	cfg.Path = path
	cfg.Warnings = append(cfg.Warnings, d.warnings...)
	d.checkPassEnv(cfg.Plugins.PassEnv)
	if d.diags.HasErrors() {
		return nil, &Error{d.diags}
	}
	return cfg, nil
}

type decoder struct {
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
	// pluginsOnly: the caller launches plugins and nothing else (LoadPlugins).
	pluginsOnly bool
	// envRead are the environment variables env() read, every one a secret's;
	// passEnvAt is where plugins { pass_env } is (checkPassEnv).
	envRead   map[string]bool
	passEnvAt *hcl.Range
	// leaseAt is where each worker's lease is set (its attribute, else its block), for
	// the lease checks that run once the providers are known.
	leaseAt map[string]hcl.Range
	// disabledProvider is the id of the disabled provider whose secrets are being read:
	// one that cannot be read (its variable unset, its file gone) is a warning, not an
	// error (secretValue). warnings are Config.Warnings.
	disabledProvider string
	warnings         []string
}

// warnf records a problem that does not stop the host (Config.Warnings), with where it is.
func (d *decoder) warnf(rng hcl.Range, format string, args ...any) {
	d.warnings = append(d.warnings, rng.String()+": "+fmt.Sprintf(format, args...))
}

func (d *decoder) errorf(rng *hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  rng,
	})
}
