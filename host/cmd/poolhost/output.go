package main

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"text/tabwriter"

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
