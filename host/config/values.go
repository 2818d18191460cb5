package config

import (
	"crypto/ed25519"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/poolhost/poolhost/host/pluginmgr/bundle"
)

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

func (d *decoder) absURL(attr *hcl.Attribute, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		d.errorf(attr.Expr.Range().Ptr(), "Invalid URL for "+attr.Name, "an absolute http(s) URL is required, got %q", s)
	}
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
