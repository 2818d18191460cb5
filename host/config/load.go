package config

import (
	"cmp"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/poolhost/poolhost/host/pluginmgr/bundle"
	"github.com/poolhost/poolhost/sdk/command"
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

// The schemas mirror the file. Attributes are kept as *hcl.Attribute so each value is
// decoded (and each semantic error reported) with its own source range. (gohcl would pull
// in hclwrite and its test-only dependencies, for no gain here.)
var (
	rootSchema = &hcl.BodySchema{
		Attributes: attrs("listen", "database_url", "database_read_url", "database_read_max_lag", "plugin_dir", "public_url", "log_level",
			"log_format", "auto_migrate", "credentials_key", "credentials_old_keys", "metrics_listen"),
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "http"}, {Type: "retry_worker"}, {Type: "poll_worker"}, {Type: "command_worker"}, {Type: "ingest"}, {Type: "retention"},
			{Type: "plugins"}, {Type: "provider", LabelNames: []string{"id"}},
		},
	}
	httpSchema = &hcl.BodySchema{Attributes: attrs("max_body_bytes", "read_header_timeout",
		"read_timeout", "write_timeout", "idle_timeout", "shutdown_timeout", "drain_grace", "return_url",
		"trusted_proxies", "heartbeat_interval", "heartbeat_gone_after"), Blocks: []hcl.BlockHeaderSchema{{Type: "rate_limit"}}}
	rateLimitSchema = &hcl.BodySchema{Attributes: attrs("per_token", "per_client", "burst", "per_webhook_account", "webhook_account_burst")}
	retrySchema     = &hcl.BodySchema{Attributes: attrs("enabled", "interval", "batch_size", "lease",
		"max_attempts", "backoff_base", "backoff_cap")}
	pollSchema    = &hcl.BodySchema{Attributes: attrs("enabled", "interval", "batch_size", "lease")}
	commandSchema = &hcl.BodySchema{Attributes: attrs("enabled", "interval", "batch_size", "device_interval", "default_expiry", "lease")}
	ingestSchema  = &hcl.BodySchema{Attributes: attrs("max_future_skew", "max_past_age", "delivery_id_retention",
		"max_dead_letters_per_account", "max_dead_letter_bytes_per_account", "webhook_secret_overlap", "max_accounts_per_user")}
	retentionSchema = &hcl.BodySchema{Attributes: attrs("readings", "audit", "dead_letters")}
	pluginsSchema   = &hcl.BodySchema{Attributes: attrs("start_timeout", "health_interval",
		"health_timeout", "health_failures", "max_restarts", "restart_window", "backoff_base", "backoff_cap", "pass_env", "require_pin", "allow_group_writable", "trusted_keys", "require_signature",
		"max_message_bytes", "max_readings_per_call", "max_device_id_bytes", "max_delivery_id_bytes",
		"max_metric_bytes", "max_unit_bytes", "max_raw_payload_bytes", "max_devices_per_call", "max_device_name_bytes")}
	providerSchema = &hcl.BodySchema{
		Attributes: attrs("enabled", "stage", "pilot_users", "access", "binary", "sha256",
			"webhooks", "poll", "poll_interval", "settings", "secrets", "commands"),
		Blocks: []hcl.BlockHeaderSchema{{Type: "timeouts"}},
	}
	timeoutsSchema = &hcl.BodySchema{Attributes: attrs("describe", "configure", "connect",
		"callback", "discover", "verify_webhook", "webhook", "poll", "health", "send_command")}
)

func attrs(names ...string) []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		out[i] = hcl.AttributeSchema{Name: n}
	}
	return out
}

// section is one decoded block: its attributes by name (absent ones are nil) and the
// range to blame for a missing attribute.
type section struct {
	attrs   hcl.Attributes
	blocks  hcl.Blocks
	missing hcl.Range
	def     hcl.Range
}

func (s section) attr(name string) *hcl.Attribute { return s.attrs[name] }

func (d *decoder) section(body hcl.Body, schema *hcl.BodySchema, def hcl.Range) (section, bool) {
	content, diags := body.Content(schema)
	d.diags = append(d.diags, diags...)
	if content == nil {
		return section{}, false
	}
	return section{attrs: content.Attributes, blocks: content.Blocks, missing: body.MissingItemRange(), def: def}, true
}

// single returns the one block of type typ, reporting duplicates.
func (d *decoder) single(blocks hcl.Blocks, typ string, schema *hcl.BodySchema) (section, bool) {
	var found []*hcl.Block
	for _, b := range blocks {
		if b.Type == typ {
			found = append(found, b)
		}
	}
	if len(found) == 0 {
		return section{}, false
	}
	for _, b := range found[1:] {
		d.errorf(b.DefRange.Ptr(), "Duplicate "+typ+" block", "only one %s block is allowed; another is at %s", typ, found[0].DefRange)
	}
	return d.section(found[0].Body, schema, found[0].DefRange)
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
	d.checkPassEnv(cfg.Plugins.PassEnv)
	if d.diags.HasErrors() {
		return nil, &Error{d.diags}
	}
	return cfg, nil
}

// secretMark tags values produced by env() and file(). A secret attribute whose value
// lacks it was written inline.
type secretMarkType struct{}

var secretMark = secretMarkType{}

// evalContext gives a config its functions; env() notes in envRead the variables it
// reads.
func evalContext(baseDir string, envRead map[string]bool) *hcl.EvalContext {
	env := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "name", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			envRead[name] = true
			v, ok := os.LookupEnv(name)
			if !ok {
				return cty.NilVal, fmt.Errorf("environment variable %s is not set", name)
			}
			return cty.StringVal(v).Mark(secretMark), nil
		},
	})
	file := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if !filepath.IsAbs(p) {
				p = filepath.Join(baseDir, p)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				// The path is not secret; the content is never echoed.
				return cty.NilVal, fmt.Errorf("read %s: %w", p, unwrapPathError(err))
			}
			// Like $(cat f): a trailing newline in a secret file is never meant.
			return cty.StringVal(strings.TrimRight(string(b), "\r\n")).Mark(secretMark), nil
		},
	})
	return &hcl.EvalContext{Functions: map[string]function.Function{"env": env, "file": file}}
}

// checkPassEnv refuses a pass_env that names a variable the config reads a secret from
// with env() (the credentials key, a provider's client or webhook secret, a database URL
// with its password): pass_env hands a variable to every plugin, third parties' too.
func (d *decoder) checkPassEnv(names []string) {
	for _, name := range names {
		if d.envRead[name] {
			d.errorf(d.passEnvAt, "Secret in pass_env",
				"plugins { pass_env } names %s, which this config reads a secret from with env(): every plugin would receive it; leave it out of pass_env", name)
		}
	}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
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
}

func (d *decoder) errorf(rng *hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  rng,
	})
}

// value evaluates attr, converts it to ty and strips marks. ok is false when attr is
// absent or broken (a diagnostic was recorded for the latter).
func (d *decoder) value(attr *hcl.Attribute, ty cty.Type) (v cty.Value, ok bool) {
	if attr == nil {
		return cty.NilVal, false
	}
	v, diags := attr.Expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return cty.NilVal, false
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		d.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "%s", err)
		return cty.NilVal, false
	}
	if !cv.IsWhollyKnown() {
		d.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "the value must be known")
		return cty.NilVal, false
	}
	return cv, true
}

func (d *decoder) str(attr *hcl.Attribute, def string) string {
	v, ok := d.value(attr, cty.String)
	if !ok {
		return def
	}
	return v.AsString()
}

func (d *decoder) boolean(attr *hcl.Attribute, def bool) bool {
	v, ok := d.value(attr, cty.Bool)
	if !ok {
		return def
	}
	return v.True()
}

func (d *decoder) integer(attr *hcl.Attribute, def int64, min int64) int64 {
	v, ok := d.value(attr, cty.Number)
	if !ok {
		return def
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != 0 {
		d.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "a whole number is required")
		return def
	}
	if n < min {
		d.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "must be at least %d, got %d", min, n)
		return def
	}
	return n
}

func (d *decoder) duration(attr *hcl.Attribute, def time.Duration) time.Duration {
	v, ok := d.value(attr, cty.String)
	if !ok {
		return def
	}
	dur, err := parseDuration(v.AsString())
	if err != nil {
		d.errorf(attr.Expr.Range().Ptr(), "Invalid duration for "+attr.Name, "%s", err)
		return def
	}
	if dur <= 0 {
		d.errorf(attr.Expr.Range().Ptr(), "Invalid duration for "+attr.Name, "must be positive, got %q", v.AsString())
		return def
	}
	return dur
}

// retention decodes a retention period: a duration as everywhere, or whole years ("2y",
// 365 days each). Absent is zero, keep forever.
func (d *decoder) retention(attr *hcl.Attribute) time.Duration {
	if attr == nil {
		return 0
	}
	v, ok := d.value(attr, cty.String)
	if !ok {
		return 0
	}
	var dur time.Duration
	if n, isYears := strings.CutSuffix(v.AsString(), "y"); isYears {
		var years int64
		if _, err := fmt.Sscanf(n, "%d", &years); err != nil || fmt.Sprint(years) != n || years <= 0 || years > 100 {
			d.errorf(attr.Expr.Range().Ptr(), "Invalid duration for "+attr.Name, `%q is not a number of years (use e.g. "2y", or "400d")`, v.AsString())
			return 0
		}
		dur = time.Duration(years) * 365 * 24 * time.Hour
	} else {
		dur = d.duration(attr, 0)
	}
	if dur > 0 && dur < MinRetention {
		d.errorf(attr.Expr.Range().Ptr(), "Invalid duration for "+attr.Name, "a retention period must be at least %s", "1d")
		return 0
	}
	return dur
}

// days writes a period as the retention block does ("30d"), or as a Go duration when it
// is not whole days.
func days(p time.Duration) string {
	if p%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", p/(24*time.Hour))
	}
	return p.String()
}

func (d *decoder) stringList(attr *hcl.Attribute) []string {
	v, ok := d.value(attr, cty.List(cty.String))
	if !ok {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			d.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "list elements must not be null")
			continue
		}
		out = append(out, e.AsString())
	}
	return out
}

// trustedKeys decodes plugins.trusted_keys: each "ed25519:<base64>" or a PEM public
// key (file("keys/acme.pub")).
func (d *decoder) trustedKeys(attr *hcl.Attribute) []ed25519.PublicKey {
	var out []ed25519.PublicKey
	for i, s := range d.stringList(attr) {
		k, err := bundle.ParsePublicKey(s)
		if err != nil {
			d.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "element %d: %v", i, err)
			continue
		}
		out = append(out, k)
	}
	return out
}

// prefixes decodes a list of CIDRs; a bare address is its own /32 or /128.
func (d *decoder) prefixes(attr *hcl.Attribute) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range d.stringList(attr) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				d.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "%q is neither a CIDR nor an IP address", s)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

// rate decodes a requests-per-second limit: 0 switches it off.
func (d *decoder) rate(attr *hcl.Attribute, def float64) float64 {
	v, ok := d.value(attr, cty.Number)
	if !ok {
		return def
	}
	f, _ := v.AsBigFloat().Float64()
	if f < 0 {
		d.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "requests per second must be 0 (off) or more, got %g", f)
		return def
	}
	return f
}

func (d *decoder) stringMap(attr *hcl.Attribute) map[string]string {
	v, ok := d.value(attr, cty.Map(cty.String))
	if !ok {
		return map[string]string{}
	}
	out := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			d.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "%s must not be null", k.AsString())
			continue
		}
		out[k.AsString()] = e.AsString()
	}
	return out
}

// secretValue evaluates one secret expression and insists it came from env() or file().
func (d *decoder) secretValue(expr hcl.Expression, what string) (string, bool) {
	v, diags := expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return "", false
	}
	if !v.HasMark(secretMark) {
		d.errorf(expr.Range().Ptr(), "Inline secret", `%s must come from env("NAME") or file("path"), never from the config file itself`, what)
		return "", false
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		d.errorf(expr.Range().Ptr(), "Invalid secret", "%s must be a string", what)
		return "", false
	}
	return v.AsString(), true
}

// secretMap decodes secrets = { name = env("X"), ... }.
func (d *decoder) secretMap(attr *hcl.Attribute) map[string]string {
	out := map[string]string{}
	if attr == nil {
		return out
	}
	obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		d.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, `an object of name = env("NAME") or file("path") is required`)
		return out
	}
	for _, item := range obj.Items {
		kv, diags := item.KeyExpr.Value(nil)
		if diags.HasErrors() || kv.Type() != cty.String || kv.IsNull() {
			d.errorf(item.KeyExpr.Range().Ptr(), "Invalid secret name", "secret names must be plain identifiers or strings")
			continue
		}
		name := kv.AsString()
		if _, dup := out[name]; dup {
			d.errorf(item.KeyExpr.Range().Ptr(), "Duplicate secret", "secret %q is set twice", name)
			continue
		}
		if s, ok := d.secretValue(item.ValueExpr, attr.Name+"."+name); ok {
			out[name] = s
		}
	}
	return out
}

func (d *decoder) key(expr hcl.Expression, what string) (Key, bool) {
	s, ok := d.secretValue(expr, what)
	if !ok {
		return Key{}, false
	}
	b, err := decodeBase64(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		// Never echo the value: it is a secret, even when malformed.
		d.errorf(expr.Range().Ptr(), "Invalid key", "%s must be 32 bytes encoded in base64 (e.g. `openssl rand -base64 32`)", what)
		return Key{}, false
	}
	return Key{ID: KeyID(b), Bytes: b}, true
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("not base64")
}

func (d *decoder) oneOf(attr *hcl.Attribute, def string, allowed ...string) string {
	v := d.str(attr, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	d.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "must be one of %s, got %q", quoteAll(allowed), v)
	return def
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

var (
	providerIDRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	sha256Re     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func (d *decoder) config(root section) *Config {
	c := &Config{
		HTTP:          DefaultHTTP,
		RetryWorker:   DefaultRetryWorker,
		PollWorker:    DefaultPollWorker,
		Ingest:        DefaultIngest,
		CommandWorker: DefaultCommandWorker,
		Plugins:       DefaultPlugins,
	}
	a := root.attr

	c.Listen = d.str(a("listen"), DefaultListen)
	if err := checkListen(c.Listen); err != nil {
		d.errorf(a("listen").Expr.Range().Ptr(), "Invalid listen address", "%s", err)
	}

	c.DatabaseURL = d.str(a("database_url"), "")
	switch dbAttr := a("database_url"); {
	case dbAttr == nil && d.pluginsOnly: // plugins alone open no database
	case dbAttr == nil:
		d.errorf(&root.missing, "Missing database_url", `database_url is required, e.g. "sqlite:data/poolhost.db" or "postgres://user@host/db"`)
	case c.DatabaseURL == "":
		d.errorf(dbAttr.Expr.Range().Ptr(), "Invalid database_url", "database_url must not be empty")
	case !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		// Do not echo the URL: it may carry a password.
		d.errorf(dbAttr.Expr.Range().Ptr(), "Invalid database_url", `database_url must start with "sqlite:", "postgres://" or "postgresql://"`)
	}

	// A streaming standby for lag-tolerant reads (host/store/replica.go).
	c.DatabaseReadURL = d.str(a("database_read_url"), "")
	switch readAttr := a("database_read_url"); {
	case readAttr == nil:
	case !strings.HasPrefix(c.DatabaseReadURL, "postgres://") && !strings.HasPrefix(c.DatabaseReadURL, "postgresql://"):
		// Do not echo the URL: it may carry a password.
		d.errorf(readAttr.Expr.Range().Ptr(), "Invalid database_read_url", `database_read_url must be a PostgreSQL standby: "postgres://" or "postgresql://"`)
	case !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		d.errorf(readAttr.Expr.Range().Ptr(), "Invalid database_read_url", "database_read_url needs a PostgreSQL database_url: it is that database's streaming standby")
	}
	c.DatabaseReadMaxLag = d.duration(a("database_read_max_lag"), DefaultDatabaseReadMaxLag)

	pluginDir := d.str(a("plugin_dir"), DefaultPluginDir)
	if abs, err := filepath.Abs(pluginDir); err == nil {
		pluginDir = abs
	}
	c.PluginDir = pluginDir

	c.PublicURL = strings.TrimRight(d.str(a("public_url"), DefaultPublicURL(c.Listen)), "/")
	c.PublicURLFromListen = a("public_url") == nil
	if a("public_url") != nil {
		d.absURL(a("public_url"), c.PublicURL)
	}
	c.LogLevel = d.oneOf(a("log_level"), "info", "trace", "debug", "info", "warn", "error", "off")
	c.LogFormat = d.oneOf(a("log_format"), "text", "text", "json")
	c.AutoMigrate = d.boolean(a("auto_migrate"), true)
	if ml := a("metrics_listen"); ml != nil {
		c.MetricsListen = d.str(ml, "")
		if err := checkListen(c.MetricsListen); err != nil {
			d.errorf(ml.Expr.Range().Ptr(), "Invalid metrics_listen address", "%s", err)
		} else if c.MetricsListen == c.Listen {
			d.errorf(ml.Expr.Range().Ptr(), "Invalid metrics_listen address", "metrics_listen must differ from listen (%s)", c.Listen)
		}
	}

	if a("credentials_key") == nil {
		if !d.pluginsOnly { // plugins alone never touch stored credentials
			d.errorf(&root.missing, "Missing credentials_key", `credentials_key is required: a base64 32-byte key from env("NAME") or file("path")`)
		}
	} else if k, ok := d.key(a("credentials_key").Expr, "credentials_key"); ok {
		c.CredentialsKey = k
	}
	if old := a("credentials_old_keys"); old != nil {
		tuple, _ := old.Expr.(*hclsyntax.TupleConsExpr)
		if tuple == nil {
			d.errorf(old.Expr.Range().Ptr(), "Invalid value for credentials_old_keys", `a list of env("NAME") or file("path") calls is required`)
		} else {
			for i, e := range tuple.Exprs {
				if k, ok := d.key(e, fmt.Sprintf("credentials_old_keys[%d]", i)); ok {
					if k.ID == c.CredentialsKey.ID {
						d.errorf(e.Range().Ptr(), "Duplicate key", "credentials_old_keys[%d] is the current credentials_key", i)
						continue
					}
					c.CredentialsOldKeys = append(c.CredentialsOldKeys, k)
				}
			}
		}
	}

	if h, ok := d.single(root.blocks, "http", httpSchema); ok {
		c.HTTP.MaxBodyBytes = d.integer(h.attr("max_body_bytes"), c.HTTP.MaxBodyBytes, 1)
		c.HTTP.ReadHeaderTimeout = d.duration(h.attr("read_header_timeout"), c.HTTP.ReadHeaderTimeout)
		c.HTTP.ReadTimeout = d.duration(h.attr("read_timeout"), c.HTTP.ReadTimeout)
		c.HTTP.WriteTimeout = d.duration(h.attr("write_timeout"), c.HTTP.WriteTimeout)
		c.HTTP.IdleTimeout = d.duration(h.attr("idle_timeout"), c.HTTP.IdleTimeout)
		c.HTTP.ShutdownTimeout = d.duration(h.attr("shutdown_timeout"), c.HTTP.ShutdownTimeout)
		c.HTTP.DrainGrace = d.duration(h.attr("drain_grace"), c.HTTP.DrainGrace)
		c.HTTP.HeartbeatInterval = d.duration(h.attr("heartbeat_interval"), c.HTTP.HeartbeatInterval)
		c.HTTP.HeartbeatGoneAfter = d.duration(h.attr("heartbeat_gone_after"), c.HTTP.HeartbeatGoneAfter)
		d.heartbeat(h, c.HTTP.HeartbeatInterval, c.HTTP.HeartbeatGoneAfter)
		c.HTTP.ReturnURL = d.str(h.attr("return_url"), "")
		if c.HTTP.ReturnURL != "" {
			d.absURL(h.attr("return_url"), c.HTTP.ReturnURL)
		}
		c.HTTP.TrustedProxies = d.prefixes(h.attr("trusted_proxies"))
		if rl, ok := d.single(h.blocks, "rate_limit", rateLimitSchema); ok {
			c.HTTP.RateLimit.PerToken = d.rate(rl.attr("per_token"), c.HTTP.RateLimit.PerToken)
			c.HTTP.RateLimit.PerClient = d.rate(rl.attr("per_client"), c.HTTP.RateLimit.PerClient)
			c.HTTP.RateLimit.Burst = int(d.integer(rl.attr("burst"), int64(c.HTTP.RateLimit.Burst), 1))
			c.HTTP.RateLimit.PerWebhookAccount = d.rate(rl.attr("per_webhook_account"), c.HTTP.RateLimit.PerWebhookAccount)
			c.HTTP.RateLimit.WebhookAccountBurst = int(d.integer(rl.attr("webhook_account_burst"), int64(c.HTTP.RateLimit.WebhookAccountBurst), 1))
		}
	}
	if r, ok := d.single(root.blocks, "retry_worker", retrySchema); ok {
		c.RetryWorker.Enabled = d.boolean(r.attr("enabled"), c.RetryWorker.Enabled)
		c.RetryWorker.Interval = d.duration(r.attr("interval"), c.RetryWorker.Interval)
		c.RetryWorker.BatchSize = int(d.integer(r.attr("batch_size"), int64(c.RetryWorker.BatchSize), 1))
		c.RetryWorker.Lease = d.duration(r.attr("lease"), c.RetryWorker.Lease)
		d.noteLease("retry_worker", r)
		c.RetryWorker.MaxAttempts = int(d.integer(r.attr("max_attempts"), int64(c.RetryWorker.MaxAttempts), 1))
		c.RetryWorker.BackoffBase = d.duration(r.attr("backoff_base"), c.RetryWorker.BackoffBase)
		c.RetryWorker.BackoffCap = d.duration(r.attr("backoff_cap"), c.RetryWorker.BackoffCap)
		d.backoffOrder(r, "retry_worker", c.RetryWorker.BackoffBase, c.RetryWorker.BackoffCap)
	}
	if p, ok := d.single(root.blocks, "poll_worker", pollSchema); ok {
		c.PollWorker.Enabled = d.boolean(p.attr("enabled"), c.PollWorker.Enabled)
		c.PollWorker.Interval = d.duration(p.attr("interval"), c.PollWorker.Interval)
		c.PollWorker.BatchSize = int(d.integer(p.attr("batch_size"), int64(c.PollWorker.BatchSize), 1))
		c.PollWorker.Lease = d.duration(p.attr("lease"), c.PollWorker.Lease)
		d.noteLease("poll_worker", p)
	}
	if w, ok := d.single(root.blocks, "command_worker", commandSchema); ok {
		c.CommandWorker.Enabled = d.boolean(w.attr("enabled"), c.CommandWorker.Enabled)
		c.CommandWorker.Interval = d.duration(w.attr("interval"), c.CommandWorker.Interval)
		c.CommandWorker.BatchSize = int(d.integer(w.attr("batch_size"), int64(c.CommandWorker.BatchSize), 1))
		c.CommandWorker.DeviceInterval = d.duration(w.attr("device_interval"), c.CommandWorker.DeviceInterval)
		c.CommandWorker.DefaultExpiry = d.duration(w.attr("default_expiry"), c.CommandWorker.DefaultExpiry)
		c.CommandWorker.Lease = d.duration(w.attr("lease"), c.CommandWorker.Lease)
		d.noteLease("command_worker", w)
		if c.CommandWorker.DefaultExpiry <= 0 || c.CommandWorker.DefaultExpiry > MaxCommandExpiry {
			d.errorf(w.def.Ptr(), "Invalid command_worker default_expiry", "default_expiry must be positive and at most %s", MaxCommandExpiry)
		}
	}
	if i, ok := d.single(root.blocks, "ingest", ingestSchema); ok {
		c.Ingest.MaxFutureSkew = d.duration(i.attr("max_future_skew"), c.Ingest.MaxFutureSkew)
		c.Ingest.MaxPastAge = d.duration(i.attr("max_past_age"), c.Ingest.MaxPastAge)
		c.Ingest.DeliveryIDRetention = d.duration(i.attr("delivery_id_retention"), c.Ingest.DeliveryIDRetention)
		c.Ingest.MaxDeadLettersPerAccount = int(d.integer(i.attr("max_dead_letters_per_account"), int64(c.Ingest.MaxDeadLettersPerAccount), 1))
		c.Ingest.MaxDeadLetterBytesPerAccount = d.integer(i.attr("max_dead_letter_bytes_per_account"), c.Ingest.MaxDeadLetterBytesPerAccount, 1)
		c.Ingest.MaxAccountsPerUser = int(d.integer(i.attr("max_accounts_per_user"), int64(c.Ingest.MaxAccountsPerUser), 1))
		c.Ingest.WebhookSecretOverlap = d.duration(i.attr("webhook_secret_overlap"), c.Ingest.WebhookSecretOverlap)
		if c.Ingest.WebhookSecretOverlap > MaxWebhookSecretOverlap {
			d.errorf(i.attr("webhook_secret_overlap").Expr.Range().Ptr(), "Invalid ingest webhook_secret_overlap",
				"webhook_secret_overlap must be at most %s (a rotated-away secret must stop working)", MaxWebhookSecretOverlap)
		}
	}
	if r, ok := d.single(root.blocks, "retention", retentionSchema); ok {
		c.Retention.Readings = d.retention(r.attr("readings"))
		c.Retention.Audit = d.retention(r.attr("audit"))
		c.Retention.DeadLetters = d.retention(r.attr("dead_letters"))
		// Ingest accepts a reading up to max_past_age old. Kept for less, a reading
		// stored late could land in a month retention is dropping: its horizon check
		// (host/retention, store.RollupHorizon) and the drop are separate
		// transactions, so such a reading could go before the rollups hold it.
		if c.Retention.Readings > 0 && c.Retention.Readings < c.Ingest.MaxPastAge {
			d.errorf(r.attr("readings").Expr.Range().Ptr(), "Invalid duration for readings",
				"retention readings (%s) must be at least ingest max_past_age (%s): readings that old are still accepted",
				days(c.Retention.Readings), days(c.Ingest.MaxPastAge))
		}
	}
	if p, ok := d.single(root.blocks, "plugins", pluginsSchema); ok {
		c.Plugins.StartTimeout = d.duration(p.attr("start_timeout"), c.Plugins.StartTimeout)
		c.Plugins.HealthInterval = d.duration(p.attr("health_interval"), c.Plugins.HealthInterval)
		c.Plugins.HealthTimeout = d.duration(p.attr("health_timeout"), c.Plugins.HealthTimeout)
		c.Plugins.HealthFailures = int(d.integer(p.attr("health_failures"), int64(c.Plugins.HealthFailures), 1))
		c.Plugins.MaxRestarts = int(d.integer(p.attr("max_restarts"), int64(c.Plugins.MaxRestarts), 0))
		c.Plugins.RestartWindow = d.duration(p.attr("restart_window"), c.Plugins.RestartWindow)
		c.Plugins.BackoffBase = d.duration(p.attr("backoff_base"), c.Plugins.BackoffBase)
		c.Plugins.BackoffCap = d.duration(p.attr("backoff_cap"), c.Plugins.BackoffCap)
		c.Plugins.PassEnv = d.stringList(p.attr("pass_env"))
		if a := p.attr("pass_env"); a != nil {
			d.passEnvAt = a.Expr.Range().Ptr()
		}
		c.Plugins.RequirePin = d.boolean(p.attr("require_pin"), c.Plugins.RequirePin)
		c.Plugins.AllowGroupWritable = d.boolean(p.attr("allow_group_writable"), c.Plugins.AllowGroupWritable)
		c.Plugins.TrustedKeys = d.trustedKeys(p.attr("trusted_keys"))
		c.Plugins.RequireSignature = d.boolean(p.attr("require_signature"), c.Plugins.RequireSignature)
		if c.Plugins.RequireSignature && len(c.Plugins.TrustedKeys) == 0 {
			d.errorf(p.def.Ptr(), "Missing trusted_keys", "plugins { require_signature = true } needs trusted_keys = [\"ed25519:…\"]: the public keys of the release keys you accept (poolhost plugins keygen prints one)")
		}
		c.Plugins.MaxMessageBytes = d.integer(p.attr("max_message_bytes"), c.Plugins.MaxMessageBytes, 1<<10)
		c.Plugins.MaxReadingsPerCall = int(d.integer(p.attr("max_readings_per_call"), int64(c.Plugins.MaxReadingsPerCall), 1))
		c.Plugins.MaxDeviceIDBytes = int(d.integer(p.attr("max_device_id_bytes"), int64(c.Plugins.MaxDeviceIDBytes), 1))
		c.Plugins.MaxDeliveryIDBytes = int(d.integer(p.attr("max_delivery_id_bytes"), int64(c.Plugins.MaxDeliveryIDBytes), 1))
		c.Plugins.MaxMetricBytes = int(d.integer(p.attr("max_metric_bytes"), int64(c.Plugins.MaxMetricBytes), 1))
		c.Plugins.MaxUnitBytes = int(d.integer(p.attr("max_unit_bytes"), int64(c.Plugins.MaxUnitBytes), 1))
		c.Plugins.MaxRawPayloadBytes = int(d.integer(p.attr("max_raw_payload_bytes"), int64(c.Plugins.MaxRawPayloadBytes), 1))
		c.Plugins.MaxDevicesPerCall = int(d.integer(p.attr("max_devices_per_call"), int64(c.Plugins.MaxDevicesPerCall), 1))
		c.Plugins.MaxDeviceNameBytes = int(d.integer(p.attr("max_device_name_bytes"), int64(c.Plugins.MaxDeviceNameBytes), 1))
		d.backoffOrder(p, "plugins", c.Plugins.BackoffBase, c.Plugins.BackoffCap)
	}

	seen := map[string]hcl.Range{}
	for _, b := range root.blocks {
		if b.Type != "provider" {
			continue
		}
		id := b.Labels[0]
		if prev, dup := seen[id]; dup {
			d.errorf(b.DefRange.Ptr(), "Duplicate provider", "provider %q is already defined at %s", id, prev)
			continue
		}
		seen[id] = b.DefRange
		ps, ok := d.section(b.Body, providerSchema, b.DefRange)
		if !ok {
			continue
		}
		c.Providers = append(c.Providers, d.provider(id, ps, c))
		d.leaseCoversCall(c, c.Providers[len(c.Providers)-1], b.DefRange)
	}
	return c
}

func (d *decoder) noteLease(block string, s section) {
	if d.leaseAt == nil {
		d.leaseAt = map[string]hcl.Range{}
	}
	d.leaseAt[block] = s.def
	if a := s.attr("lease"); a != nil {
		d.leaseAt[block] = a.Range
	}
}

// LeaseCallFactor is how many per-call deadlines a worker's lease must cover. A worker
// slot holds one row at a time (host/internal/worker.Drain): the plugin call may use its
// whole deadline, and the transaction that records its outcome comes after it. A lease
// that ends first lets another replica claim the row and work it at once — with
// rotating refresh tokens, one of the two refreshes fails and the user is asked to
// reconnect for nothing.
const LeaseCallFactor = 2

// leaseCoversCall refuses a worker lease shorter than LeaseCallFactor times the
// provider's deadline for the call the worker makes: Poll for the poll worker (providers
// with poll = true), Webhook for the retry worker (every provider can queue failures),
// SendCommand for the command dispatcher (read-write providers).
func (d *decoder) leaseCoversCall(c *Config, p Provider, providerAt hcl.Range) {
	check := func(block string, enabled bool, lease, call time.Duration, callName string) {
		if !enabled || call <= 0 || lease >= LeaseCallFactor*call {
			return
		}
		rng, ok := d.leaseAt[block]
		if !ok {
			rng = providerAt
		}
		d.errorf(&rng, "Invalid "+block+" lease",
			"%s.lease (%s) must be at least %d × provider %q's timeouts.%s (%s): one slot works one row per lease, and the lease must outlast the call and the transaction that records it",
			block, lease, LeaseCallFactor, p.ID, callName, call)
	}
	check("poll_worker", c.PollWorker.Enabled && p.Poll, c.PollWorker.Lease, p.Timeouts.Poll, "poll")
	check("retry_worker", c.RetryWorker.Enabled, c.RetryWorker.Lease, p.Timeouts.Webhook, "webhook")
	// Only a read-write provider is ever sent commands.
	check("command_worker", c.CommandWorker.Enabled && p.Access == AccessReadWrite, c.CommandWorker.Lease, p.Timeouts.SendCommand, "send_command")
}

func (d *decoder) backoffOrder(s section, block string, base, limit time.Duration) {
	if base <= limit {
		return
	}
	rng := s.def
	if a := s.attr("backoff_cap"); a != nil {
		rng = a.Range
	}
	d.errorf(&rng, "Invalid "+block+" backoff", "backoff_cap (%s) must not be below backoff_base (%s)", limit, base)
}

// heartbeat refuses replica heartbeat timings that would misreport replicas: a beat
// more often than once a second writes the database for nothing, and a replica silent
// for less than two beats would be shown gone by a single late one.
func (d *decoder) heartbeat(s section, interval, goneAfter time.Duration) {
	if a := s.attr("heartbeat_interval"); a != nil && interval < time.Second {
		d.errorf(a.Expr.Range().Ptr(), "Invalid http heartbeat_interval", "heartbeat_interval (%s) must be at least 1s", interval)
		return
	}
	if goneAfter >= 2*interval {
		return
	}
	rng := s.def
	if a := s.attr("heartbeat_gone_after"); a != nil {
		rng = a.Expr.Range()
	} else if a := s.attr("heartbeat_interval"); a != nil {
		rng = a.Expr.Range()
	}
	d.errorf(&rng, "Invalid http heartbeat_gone_after",
		"heartbeat_gone_after (%s) must be at least 2 × heartbeat_interval (%s), or one late beat shows a live replica gone", goneAfter, interval)
}

func (d *decoder) absURL(attr *hcl.Attribute, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		d.errorf(attr.Expr.Range().Ptr(), "Invalid URL for "+attr.Name, "an absolute http(s) URL is required, got %q", s)
	}
}

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
		Secrets:      d.secretMap(s.attr("secrets")),
		Commands:     d.stringList(s.attr("commands")),
		Timeouts:     DefaultTimeouts,
	}
	for _, name := range p.Commands {
		if _, ok := command.Lookup(name); !ok {
			d.errorf(s.attr("commands").Expr.Range().Ptr(), "Unknown command", "%q is not a poolhost command (known: %s)", name, strings.Join(command.Names(), ", "))
		}
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

// parseDuration accepts Go durations plus a whole-day suffix ("30d"), since retention-style
// values read better in days.
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && !strings.ContainsAny(n, "hmsuµn.") {
		var days int64
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && fmt.Sprint(days) == n {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf(`%q is not a duration (use e.g. "500ms", "5s", "2m", "1h", "30d")`, s)
	}
	return dur, nil
}

// checkListen judges a listen address as net.Listen will, so that config validate (and a
// reload) refuses what serve could not bind: host:port, the port a number from 0 to 65535
// or a service name.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	return nil
}
