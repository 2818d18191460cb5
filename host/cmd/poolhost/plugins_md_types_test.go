package main

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk"
)

// TestPLUGINSmdTypesTable: each row of PLUGINS.md's Normalized types table names every
// exported field of the sdk type it describes, so a field added to the contract is
// where a provider team reads the types.
func TestPLUGINSmdTypesTable(t *testing.T) {
	b, err := os.ReadFile(pluginsMD)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]any{
		"Description": sdk.Description{}, "Option": sdk.Option{}, "ConfigureRequest": sdk.ConfigureRequest{},
		"ConnectRequest": sdk.ConnectRequest{}, "ConnectResult": sdk.ConnectResult{}, "CallbackRequest": sdk.CallbackRequest{},
		"Linkage": sdk.Linkage{}, "Account": sdk.Account{}, "Device": sdk.Device{}, "PoolSuggestion": sdk.PoolSuggestion{},
		"Reading": sdk.Reading{}, "WebhookRequest": sdk.WebhookRequest{}, "WebhookResult": sdk.WebhookResult{},
		"PollRequest": sdk.PollRequest{}, "PollResult": sdk.PollResult{}, "TestSession": sdk.TestSession{},
		"TestResult": sdk.TestResult{},
	}
	seen := map[string]bool{}
	for line := range strings.SplitSeq(string(b), "\n") {
		cols := strings.SplitN(line, " | ", 2)
		if len(cols) != 2 || !strings.HasPrefix(line, "| `") {
			continue
		}
		// "| `PollRequest` / `PollResult` | …" describes both, fields in that order.
		for name := range strings.SplitSeq(strings.TrimPrefix(cols[0], "| "), " / ") {
			v, ok := types[strings.Trim(name, "`")]
			if !ok {
				continue
			}
			seen[strings.Trim(name, "`")] = true
			rt := reflect.TypeOf(v)
			for i := range rt.NumField() {
				if f := rt.Field(i); f.IsExported() && !namesField(cols[1], f.Name) {
					t.Errorf("PLUGINS.md's row for %s does not name its field %s", rt.Name(), f.Name)
				}
			}
		}
	}
	for name := range types {
		if !seen[name] {
			t.Errorf("PLUGINS.md's Normalized types table has no row for %s", name)
		}
	}
}

// namesField reports whether a row's text names field: `Name`, `Name{…}` or `Name []T`.
func namesField(row, field string) bool {
	for _, end := range []string{"`", "{", " "} {
		if strings.Contains(row, "`"+field+end) {
			return true
		}
	}
	return false
}
