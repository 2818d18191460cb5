package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/v2"
)

// Changes is what a reload changes: the settings named as in the file
// ("log_level", "http.read_timeout", "provider.generic"), sorted.
type Changes struct {
	// Applied take effect at once.
	Applied []string
	// RestartRequired keep their old value until the next start.
	RestartRequired []string
}

// restartOnly are the settings read once at start. Everything else is reloaded: the
// serve command applies it, or reads it afresh where it is used.
//
// http.read_header_timeout and http.idle_timeout are fields of the running
// http.Server, which reads them per connection without a lock: changing them there
// would race, and no handler can apply them (they bound time outside any request).
var restartOnly = map[string]bool{
	"listen": true, "database_url": true, "database_read_url": true, "database_read_max_lag": true,
	"metrics_listen": true, "log_format": true,
	"auto_migrate": true, "credentials_key": true, "credentials_old_keys": true,
	"http.read_header_timeout": true, "http.idle_timeout": true,
	// The heartbeat's ticker and the Overview's judge of gone are set up at start.
	"http.heartbeat_interval": true, "http.heartbeat_gone_after": true,
}

// RestartOnly reports whether a setting named as in Changes needs a restart.
func RestartOnly(name string) bool { return restartOnly[name] }

// Diff compares the running configuration with a newly loaded one.
func Diff(old, cur *Config) Changes {
	var names []string
	diffValue("", reflect.ValueOf(*old), reflect.ValueOf(*cur), &names)
	// Providers by id, so a reordering is no change and each provider is named.
	was := map[string]Provider{}
	for _, p := range old.Providers {
		was[p.ID] = p
	}
	for _, p := range cur.Providers {
		if o, ok := was[p.ID]; !ok || !reflect.DeepEqual(o, p) {
			names = append(names, "provider."+p.ID)
		}
		delete(was, p.ID)
	}
	for id := range was {
		names = append(names, "provider."+id)
	}
	var ch Changes
	slices.Sort(names)
	for _, n := range names {
		if restartOnly[n] {
			ch.RestartRequired = append(ch.RestartRequired, n)
		} else {
			ch.Applied = append(ch.Applied, n)
		}
	}
	return ch
}

// diffValue appends the file names of the fields that differ. Blocks (structs) are
// walked one level down; a field is compared whole otherwise.
func diffValue(prefix string, a, b reflect.Value, out *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		switch f.Name {
		case "Path", "Warnings", "Providers", "PublicURLFromListen":
			continue // not settings, or compared by id in Diff (or by PublicURL)
		}
		name := prefix + snake(f.Name)
		av, bv := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath() && f.Type.Name() != "Key" {
			diffValue(name+".", av, bv, out)
			continue
		}
		if !reflect.DeepEqual(av.Interface(), bv.Interface()) {
			*out = append(*out, name)
		}
	}
}

// snake turns a Go field name into the file's attribute name: ReadHeaderTimeout is
// read_header_timeout, DatabaseURL database_url, MaxDeviceIDBytes max_device_id_bytes.
func snake(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prevLower := unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || (nextLower && unicode.IsUpper(r[i-1])) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// Diagnostic is one problem of a configuration file, for an API answer.
type Diagnostic struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// String reads "file:line,col: message", as the server log does.
func (d Diagnostic) String() string {
	if d.File == "" {
		return d.Message
	}
	return fmt.Sprintf("%s:%d,%d: %s", d.File, d.Line, d.Column, d.Message)
}

// List returns the error's problems one by one, each with its position.
func (e *Error) List() []Diagnostic {
	var out []Diagnostic
	for _, d := range e.Diagnostics {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += "; " + d.Detail
		}
		dg := Diagnostic{Message: msg}
		if d.Subject != nil {
			dg.File, dg.Line, dg.Column = d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
		}
		out = append(out, dg)
	}
	return out
}
