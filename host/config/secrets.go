package config

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

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

// secretValue evaluates one secret expression and insists it came from env() or file().
func (d *decoder) secretValue(expr hcl.Expression, what string) (string, bool) {
	v, diags := expr.Value(d.ctx)
	if diags.HasErrors() && d.disabledProvider != "" {
		// Decommissioning a provider (enabled = false) and removing its secret from the
		// service's environment or disk must not keep the host, and every other
		// provider, from starting: nothing reads a disabled provider's secrets. Enabled
		// again, the block is refused until they are back.
		for _, diag := range diags.Errs() {
			d.warnf(expr.Range(), "provider %q is disabled, so its %s is not read: %s", d.disabledProvider, what, diagDetail(diag))
		}
		return "", false
	}
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

// diagDetail is a diagnostic's message without its position.
func diagDetail(diag error) string {
	if hd, ok := diag.(*hcl.Diagnostic); ok && hd.Detail != "" {
		return hd.Detail
	}
	return diag.Error()
}
