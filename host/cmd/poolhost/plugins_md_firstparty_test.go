package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	template "github.com/poolhost/poolhost/examples/provider-template"
	"github.com/poolhost/poolhost/plugins/generic"
	"github.com/poolhost/poolhost/plugins/iopool"
	"github.com/poolhost/poolhost/plugins/ondilo"
	"github.com/poolhost/poolhost/plugins/ttn"
	"github.com/poolhost/poolhost/sdk"
)

// TestPLUGINSmdFirstPartyTable: each row of PLUGINS.md's first-party table says what the
// plugin's Describe declares: its capabilities as the row's second column writes them,
// and every setting, secret and connect input it declares in the column for it.
func TestPLUGINSmdFirstPartyTable(t *testing.T) {
	b, err := os.ReadFile(pluginsMD)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if cols := strings.Split(line, " | "); strings.HasPrefix(line, "| `") && len(cols) == 6 {
			id := strings.Trim(strings.Fields(strings.TrimPrefix(cols[0], "| "))[0], "`")
			rows[id] = cols
		}
	}
	for _, p := range []sdk.Adapter{template.New(), generic.New(), ttn.New(), ondilo.New(), iopool.New()} {
		d, err := p.Describe(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		row, ok := rows[d.ID]
		if !ok {
			t.Errorf("PLUGINS.md's first-party table has no row for %s", d.ID)
			continue
		}
		// What a webhook is checked with may follow it in brackets.
		if got, want := webhookHow.ReplaceAllString(row[1], "webhook"), tableCapabilities(d.Capabilities); got != want {
			t.Errorf("%s: the table says capabilities %q, Describe declares %q", d.ID, got, want)
		}
		for _, o := range d.Settings {
			col, what := row[2], "settings"
			if o.Secret {
				col, what = row[3], "secrets"
			}
			if key := "`" + strings.Replace(o.Key, ".*", ".<", 1); !strings.Contains(col, key) {
				t.Errorf("%s: the table's %s column does not name %s", d.ID, what, key)
			}
		}
		for _, o := range d.ConnectInputs {
			if !strings.Contains(row[4], "`"+o.Key+"`") {
				t.Errorf("%s: the table's connect input column does not name `%s`", d.ID, o.Key)
			}
		}
	}
}

var webhookHow = regexp.MustCompile(`webhook \([^)]*\)`)

// tableCapabilities is c as the first-party table writes it: "`api_key`; webhook; poll (min
// 5m); write (`pump.set`)".
func tableCapabilities(c sdk.Capabilities) string {
	parts := []string{"`" + string(c.Connect) + "`"}
	if c.Webhook {
		parts = append(parts, "webhook")
	}
	if c.Poll {
		parts = append(parts, fmt.Sprintf("poll (min %s)", strings.TrimSuffix(c.MinPollInterval.String(), "0s")))
	}
	if c.Write {
		parts = append(parts, "write (`"+strings.Join(c.Commands, "`, `")+"`)")
	}
	return strings.Join(parts, "; ")
}
