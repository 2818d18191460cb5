package connect_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/sdk"
)

// textPlugin is a provider whose API names its devices with what no name may hold.
type textPlugin struct{ devices []sdk.Device }

func (p textPlugin) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "acme", Capabilities: sdk.Capabilities{Connect: sdk.ConnectAPIKey}}, nil
}
func (textPlugin) Connect(context.Context, sdk.ConnectRequest) (sdk.ConnectResult, error) {
	return sdk.ConnectResult{}, nil
}
func (textPlugin) Callback(context.Context, sdk.CallbackRequest) (sdk.Linkage, error) {
	return sdk.Linkage{}, nil
}
func (p textPlugin) DiscoverDevices(context.Context, sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	return sdk.DiscoverResult{Devices: p.devices}, nil
}

type onePlugin struct{ ad connect.Adapter }

func (o onePlugin) Adapter(string) (connect.Adapter, error) { return o.ad, nil }
func (onePlugin) States() map[string]connect.PluginState    { return nil }

// TestDiscoveredTextCleaned: a provider's device names, models and metadata are the
// provider's text, not the user's: a NUL (which PostgreSQL refuses, so the discovery
// was a 500 every time), an escape sequence or a bidi override in them is stored as
// U+FFFD, and the discovery works. A device whose id holds one cannot be matched by any
// delivery and is left out.
func TestDiscoveredTextCleaned(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s := eng.Open(t)
			w := ingesttest.Seed(t, s, "acme", "owner@example.com", map[string]string{"api_key": "k"}, nil, nil)
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "creds.key"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(filepath.Join(dir, "poolhost.hcl"), []byte(fmt.Sprintf(`
database_url    = "sqlite:unused.db"
credentials_key = file("creds.key")
plugin_dir      = %q
provider "acme" {}
`, dir)))
			if err != nil {
				t.Fatal(err)
			}
			plugin := textPlugin{devices: []sdk.Device{
				{ProviderDeviceID: "pool-1", Name: "Back\x00yard", Model: "EcO\x1b[2J", Metadata: map[string]string{"mode": "winter\x00", "k\x00": "v"}, Verified: true},
				{ProviderDeviceID: "pool-2", Name: "exe.\u202etxt", Verified: true},
				{ProviderDeviceID: "pool\x003", Name: "bad id", Verified: true},
			}}
			rec := audit.NewRecorder(audit.StoreWriter(s), nil)
			svc := connect.New(connect.Deps{Store: s, Plugins: onePlugin{plugin}, Pools: pools.New(s, rec), Audit: rec,
				Config: func() *config.Config { return cfg }})
			devices, err := svc.Discover(ctx, auth.Actor{UserID: w.User.ID}, w.Account.ID)
			if err != nil {
				t.Fatalf("discovery: %v", err)
			}
			got := map[string]connect.Device{}
			for _, d := range devices {
				got[d.ProviderDeviceID] = d
			}
			if len(got) != 2 {
				t.Fatalf("discovered %+v, want pool-1 and pool-2", devices)
			}
			if d := got["pool-1"]; d.Name != "Back\ufffdyard" || d.Model != "EcO\ufffd[2J" {
				t.Errorf("pool-1 stored as %q / %q", d.Name, d.Model)
			}
			if d := got["pool-2"]; d.Name != "exe.\ufffdtxt" {
				t.Errorf("pool-2 stored as %q", d.Name)
			}
			listed, err := s.ListDevices(ctx, w.Account.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range listed {
				for k, v := range d.Metadata {
					if strings.ContainsRune(k+v, 0) {
						t.Errorf("metadata %q=%q kept its NUL", k, v)
					}
				}
			}
		})
	}
}
