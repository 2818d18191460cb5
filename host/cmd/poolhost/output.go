package main

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// format is --format: text (an aligned table for people) or json (for scripts). The
// flag refuses anything else when it is parsed, before the command does any work.
type format string

func (f *format) String() string { return string(*f) }
func (f *format) Type() string   { return "format" }
func (f *format) Set(v string) error {
	switch v {
	case "text", "json":
		*f = format(v)
		return nil
	}
	return fmt.Errorf("must be text or json")
}

// formatFlag adds --format to a listing command.
func formatFlag(c *cobra.Command) *format {
	f := format("text")
	c.Flags().Var(&f, "format", "output `format`: text or json")
	return &f
}

// write prints v as JSON (a nil slice as []), or calls table with an aligned writer.
func (f format) write(w io.Writer, v any, table func(tw io.Writer)) error {
	if f == "json" {
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
			v = []any{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// limitValue is a listing's --limit: from 1 to max, refused when parsed otherwise, as the
// API answers 400 to the same. Never clamped in silence: a listing cut at 500 when 1000
// was asked for would look complete.
type limitValue struct{ n, max int }

func (l *limitValue) String() string { return strconv.Itoa(l.n) }
func (l *limitValue) Type() string   { return "int" }
func (l *limitValue) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > l.max {
		return fmt.Errorf("must be a whole number from 1 to %d", l.max)
	}
	l.n = n
	return nil
}

// termSafe makes text that came from outside (a webhook's payload, a sender's delivery
// id, a plugin's error) fit to print on an operator's terminal: control characters other
// than newline and tab, and the bidirectional overrides and isolates, are shown as
// escapes (\x1b, \u202e) instead of written. Written raw, a dead letter's ESC sequences
// were obeyed by the terminal showing `failures show`: any user with an account URL
// could clear the screen, hide or recolour text, retitle the window or write the
// clipboard (OSC 52) of the operator who looked. --format json escapes them already.
func termSafe(s string) string { return termEscape(s, needsEscape) }

// termField is termSafe for a value printed as one field of a line (failures show's
// DELIVERY ID, a header's value): its newlines and tabs are escaped too. Kept, a
// delivery id a plugin read from a sender's body ("x\nSTATUS\tresolved") printed lines
// of its own that read as the dead letter's fields.
func termField(s string) string {
	return termEscape(s, func(r rune) bool { return r == '\n' || r == '\t' || needsEscape(r) })
}

func termEscape(s string, escape func(rune) bool) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, escape) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1: // a byte that is not UTF-8 (0x9b is a C1 CSI to some terminals)
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case !escape(r):
			b.WriteString(s[i : i+n])
		case r < 0x80:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
		i += n
	}
	return b.String()
}

func needsEscape(r rune) bool {
	if r == '\n' || r == '\t' {
		return false
	}
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' ||
		r >= '\u202A' && r <= '\u202E' || r >= '\u2066' && r <= '\u2069'
}
