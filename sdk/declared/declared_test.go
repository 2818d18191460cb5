package declared_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/declared"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		list string
		want string // joined; "!" means invalid input
	}{
		{"empty", "", ""},
		{"trimmed, deduplicated, in order", " pool-probe-1, spa,pool-probe-1,,", "pool-probe-1,spa"},
		{"full alphabet", "a-b_c.d:E9", "a-b_c.d:E9"},
		{"space inside an id", "ok,not ok", "!"},
		{"slash", "a/b", "!"},
		{"non-ASCII letter", "pöol", "!"},
		{"longest id", strings.Repeat("x", declared.MaxIDLen), strings.Repeat("x", declared.MaxIDLen)},
		{"id too long", strings.Repeat("x", declared.MaxIDLen+1), "!"},
		{"too many", manyIDs(declared.MaxDevices + 1), "!"},
		{"as many as allowed", manyIDs(declared.MaxDevices), manyIDs(declared.MaxDevices)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, err := declared.Parse(tt.list)
			if tt.want == "!" {
				if !sdk.IsKind(err, sdk.KindInvalidInput) {
					t.Fatalf("Parse(%q) = %v, %v; want invalid input", tt.list, ids, err)
				}
				return
			}
			if err != nil || declared.Join(ids) != tt.want {
				t.Fatalf("Parse(%q) = %v, %v; want %q", tt.list, ids, err, tt.want)
			}
		})
	}
}

func manyIDs(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("d%d", i)
	}
	return strings.Join(ids, ",")
}

func TestDevices(t *testing.T) {
	ds, err := declared.Devices("spa,probe", "webhook device")
	if err != nil {
		t.Fatal(err)
	}
	want := []sdk.Device{
		{ProviderDeviceID: "spa", Name: "spa", Model: "webhook device"},
		{ProviderDeviceID: "probe", Name: "probe", Model: "webhook device"},
	}
	if fmt.Sprint(ds) != fmt.Sprint(want) {
		t.Errorf("Devices = %+v, want %+v", ds, want)
	}
	if _, err := declared.Devices("bad id", ""); !sdk.IsKind(err, sdk.KindInvalidInput) {
		t.Errorf("Devices of a bad stored list: %v, want invalid input", err)
	}
}

// A webhook_secret provider keeps the devices its user declares at Connect and lists
// them in DiscoverDevices.
func Example() {
	connect := func(_ context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error) {
		ids, err := declared.Parse(req.Input[declared.Key])
		if err != nil {
			return sdk.ConnectResult{}, err
		}
		return sdk.ConnectResult{Linkage: &sdk.Linkage{
			ExternalAccountID: "acme_123",
			Credentials:       sdk.Credentials{declared.Key: declared.Join(ids)},
		}}, nil
	}
	discover := func(_ context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
		ds, err := declared.Devices(req.Account.Credentials[declared.Key], "Acme probe")
		return sdk.DiscoverResult{Devices: ds}, err
	}

	res, _ := connect(context.Background(), sdk.ConnectRequest{Input: map[string]string{"devices": "probe-1, spa ,probe-1"}})
	found, _ := discover(context.Background(), sdk.DiscoverRequest{Account: sdk.Account{Credentials: res.Linkage.Credentials}})
	for _, d := range found.Devices {
		fmt.Println(d.ProviderDeviceID, d.Model)
	}
	// Output:
	// probe-1 Acme probe
	// spa Acme probe
}

// TestFleetKeyTooShort: a fleet key anyone could guess is refused at Configure, naming
// the secret and how to make one.
func TestFleetKeyTooShort(t *testing.T) {
	_, err := declared.NewFleet(sdk.ConfigureRequest{
		Settings: map[string]string{declared.FleetDevicesSetting: "pump-1"},
		Secrets:  map[string]string{declared.FleetKeySecret: "fleet2024"},
	})
	if !sdk.IsKind(err, sdk.KindInvalidInput) || !strings.Contains(err.Error(), "fleet_key is 9 characters, fewer than 32") || !strings.Contains(err.Error(), "openssl rand") {
		t.Fatalf("a 9-character fleet key: %v", err)
	}
}

func TestFleet(t *testing.T) {
	f, err := declared.NewFleet(sdk.ConfigureRequest{
		Settings: map[string]string{declared.FleetDevicesSetting: "pump-1, probe-9"},
		Secrets:  map[string]string{declared.FleetKeySecret: "operator-key-0123456789abcdef0123456789"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Admit(map[string]string{declared.FleetKeyInput: "guess"}); ok {
		t.Fatal("a wrong fleet key was admitted")
	}
	if _, ok := f.Admit(map[string]string{}); ok {
		t.Fatal("no fleet key was admitted")
	}
	mark, ok := f.Admit(map[string]string{declared.FleetKeyInput: "operator-key-0123456789abcdef0123456789"})
	if !ok {
		t.Fatal("the fleet key was refused")
	}
	if ds := f.Devices(sdk.Account{Credentials: sdk.Credentials{}}, "m"); len(ds) != 0 {
		t.Fatalf("an ordinary account got the fleet's devices: %v", ds)
	}
	ds := f.Devices(sdk.Account{Credentials: mark}, "m")
	if len(ds) != 2 || !ds[0].Verified || !ds[1].Verified || ds[1].ProviderDeviceID != "probe-9" {
		t.Fatalf("fleet devices %+v, want pump-1 and probe-9, verified", ds)
	}
	mine, _ := declared.Devices("probe-9,own-1", "m")
	merged := declared.Merge(mine, ds)
	if len(merged) != 3 {
		t.Fatalf("merged %+v, want 3 devices", merged)
	}
	for _, d := range merged {
		if d.Verified != (d.ProviderDeviceID != "own-1") {
			t.Errorf("%s verified=%v", d.ProviderDeviceID, d.Verified)
		}
	}
	if _, err := declared.NewFleet(sdk.ConfigureRequest{Settings: map[string]string{declared.FleetDevicesSetting: "a"}}); !sdk.IsKind(err, sdk.KindInvalidInput) {
		t.Fatalf("fleet devices without a key: %v, want invalid input", err)
	}
	var zero declared.Fleet
	if _, ok := zero.Admit(map[string]string{declared.FleetKeyInput: ""}); ok {
		t.Fatal("the zero fleet admitted an empty key")
	}
}

// TestFleetKeyReplaced: an account is the fleet's only while the key it connected with is
// the fleet key. An operator replaces a key that leaked; the accounts the old key made
// (the leaker's) must not keep discovering the fleet's devices, verified, which is what
// the provider-level URL delivers to. The mark in the credentials is not the key.
func TestFleetKeyReplaced(t *testing.T) {
	const oldKey, newKey = "old-operator-key-0123456789abcdef0123", "new-operator-key-0123456789abcdef0123"
	fleet := func(key string) declared.Fleet {
		t.Helper()
		f, err := declared.NewFleet(sdk.ConfigureRequest{
			Settings: map[string]string{declared.FleetDevicesSetting: "pump-1"},
			Secrets:  map[string]string{declared.FleetKeySecret: key},
		})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	before, after := fleet(oldKey), fleet(newKey)
	leaked, ok := before.Admit(map[string]string{declared.FleetKeyInput: oldKey})
	if !ok {
		t.Fatal("the fleet key was refused")
	}
	for k, v := range leaked {
		if strings.Contains(v, oldKey) || strings.Contains(k, oldKey) {
			t.Fatalf("the account's credentials hold the fleet key: %v", leaked)
		}
	}
	if ds := before.Devices(sdk.Account{Credentials: leaked}, "m"); len(ds) != 1 || !ds[0].Verified {
		t.Fatalf("under the key it connected with: %+v, want pump-1 verified", ds)
	}
	if ds := after.Devices(sdk.Account{Credentials: leaked}, "m"); len(ds) != 0 {
		t.Fatalf("an account the replaced key made still gets the fleet's devices: %+v", ds)
	}
	if _, ok := after.Admit(map[string]string{declared.FleetKeyInput: oldKey}); ok {
		t.Fatal("the replaced key was admitted")
	}
	current, ok := after.Admit(map[string]string{declared.FleetKeyInput: newKey})
	if !ok {
		t.Fatal("the new key was refused")
	}
	if ds := after.Devices(sdk.Account{Credentials: current}, "m"); len(ds) != 1 || !ds[0].Verified {
		t.Fatalf("connected with the new key: %+v, want pump-1 verified", ds)
	}
	// A mark that names no key (the "1" marks once carried) says nothing about which key
	// made the account.
	if ds := after.Devices(sdk.Account{Credentials: sdk.Credentials{"fleet": "1"}}, "m"); len(ds) != 0 {
		t.Fatalf("a mark naming no key got the fleet's devices: %+v", ds)
	}
}
