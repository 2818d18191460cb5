// Package declared serves the devices a user declares when connecting an account, for
// providers with no device list of their own to ask — typically webhook_secret
// providers, whose accounts are just endpoints. Connect parses the user's input with
// [Parse] and stores [Join] of it in the linkage credentials; DiscoverDevices turns the
// stored list back into devices with [Devices] so the user can link them to pools (the
// host drops readings of devices that are not linked).
//
// A declared device is only the user's word: anyone can type a serial number printed on
// someone else's probe. So declared devices are never Verified, and the host gives them
// only deliveries on their own account's webhook URL, whose secret proves the account.
// Do not use this package when the provider has an API that lists an account's devices:
// list them there and mark them Verified.
//
// [Fleet] is the exception an operator controls: devices the operator registers in the
// provider's settings, verified for whoever connects with the operator's fleet key.
package declared

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/poolhost/poolhost/sdk"
)

// Key is the conventional Connect input and credentials key of the list.
const Key = "devices"

// Limits on what a user can declare.
const (
	MaxDevices = 256
	MaxIDLen   = 128
)

// Parse splits a comma-separated list of device ids, skipping blanks and repeats and
// keeping the order. Ids are letters, digits and "-_.:" only, so they are safe in URLs,
// logs and CSV exports. A bad list is an error of kind [sdk.KindInvalidInput] naming
// the offending id.
func Parse(list string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, id := range strings.Split(list, ",") {
		id = strings.TrimSpace(id)
		if id == "" || seen[id] {
			continue
		}
		if err := checkID(id); err != nil {
			return nil, err
		}
		seen[id] = true
		out = append(out, id)
	}
	if len(out) > MaxDevices {
		return nil, sdk.InvalidInput("at most %d devices per account", MaxDevices)
	}
	return out, nil
}

func checkID(id string) error {
	if len(id) > MaxIDLen {
		return sdk.InvalidInput("device id longer than %d characters", MaxIDLen)
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)
		if !ok {
			return sdk.InvalidInput("device id %q: only letters, digits and -_.: are allowed", id)
		}
	}
	return nil
}

// Join is the form of ids stored in the credentials; Parse reads it back.
func Join(ids []string) string { return strings.Join(ids, ",") }

// Devices returns the devices of a stored list, each named after its id, with model.
// The list is parsed again, so credentials stored by an older, laxer plugin version
// fail here, as invalid input, rather than reach the host.
func Devices(list, model string) ([]sdk.Device, error) {
	ids, err := Parse(list)
	if err != nil {
		return nil, err
	}
	out := make([]sdk.Device, 0, len(ids))
	for _, id := range ids {
		out = append(out, sdk.Device{ProviderDeviceID: id, Name: id, Model: model})
	}
	return out, nil
}

// Fleet setting, secret and input keys.
const (
	// FleetDevicesSetting lists the operator's own devices (comma-separated ids).
	FleetDevicesSetting = "fleet_devices"
	// FleetKeySecret is the operator's secret that makes a connect the fleet's account.
	FleetKeySecret = "fleet_key"
	// FleetKeyInput is the Connect input carrying it.
	FleetKeyInput = "fleet_key"
	// fleetCredential marks, in the linkage credentials, the account the fleet key made:
	// its value is the key's mark (Fleet.mark), so the account is the fleet's only while
	// the key it connected with is the fleet key.
	fleetCredential = "fleet"
	// MinFleetKeyLen is the shortest fleet key a provider accepts. Whoever guesses it
	// links the operator's own devices, and a wrong guess costs only a connect (a 400,
	// at the API's per-token rate): 32 characters of `openssl rand -hex 32` or
	// `-base64 32` are 128 bits and more.
	MinFleetKeyLen = 32
)

// FleetSettings declares the fleet's setting and secret, for sdk.Description.Settings.
func FleetSettings() []sdk.Option {
	return []sdk.Option{
		{Key: FleetDevicesSetting, Help: "The operator's own device ids, comma-separated; they receive provider-level deliveries."},
		{Key: FleetKeySecret, Secret: true, Help: "The key a user gives at connect to get the fleet's devices (at least 32 random characters: openssl rand -hex 32); required with fleet_devices."},
	}
}

// Inputs declares the connect inputs this package reads (the device list and the
// fleet key), for sdk.Description.ConnectInputs.
func Inputs() []sdk.Option {
	return []sdk.Option{
		{Key: Key, Help: fmt.Sprintf("Your device ids, comma-separated (at most %d).", MaxDevices)},
		{Key: FleetKeyInput, Secret: true, Help: "The operator's fleet key, to link the operator's own devices instead."},
	}
}

// Fleet is an operator's own devices: a provider-level webhook secret is the
// operator's, so the devices it reaches must be registered by the operator too, not
// declared by users. The operator lists them in the provider's settings and sets a
// fleet key among its secrets; a user who connects with that key gets an account whose
// discovery returns the fleet's devices Verified, so they receive provider-level
// deliveries. The zero Fleet has no devices and admits nobody.
//
// An account is the fleet's only while the key it connected with is the fleet key: its
// credentials keep a mark derived from that key (not the key), and Devices compares it
// with the current key's. So an operator who replaces a key that leaked (and reloads,
// which runs discovery again) takes the fleet's devices from every account connected
// with the old key, the leaker's included; the operator's own account connects again
// with the new key. An account marked before marks carried the key ("1") is no longer
// the fleet's either, for the same reason: nothing says which key made it.
type Fleet struct {
	key     string
	mark    string // fleetMark(key); "" when there is no key
	devices []string
}

// fleetMark is what an account the key admitted keeps in its credentials: an HMAC of a
// fixed label under the key, which names the key without giving it away (the key has
// at least MinFleetKeyLen random characters, so the mark cannot be searched back).
func fleetMark(key string) string {
	if key == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("poolhost declared.Fleet account mark v2"))
	return "v2:" + hex.EncodeToString(m.Sum(nil))
}

// NewFleet reads the fleet from a provider's Configure request.
func NewFleet(req sdk.ConfigureRequest) (Fleet, error) {
	ids, err := Parse(req.Settings[FleetDevicesSetting])
	if err != nil {
		return Fleet{}, err
	}
	key := req.Secrets[FleetKeySecret]
	if len(ids) > 0 && key == "" {
		return Fleet{}, sdk.InvalidInput("setting %s lists devices but secret %s is not set", FleetDevicesSetting, FleetKeySecret)
	}
	if key != "" && len(key) < MinFleetKeyLen {
		return Fleet{}, sdk.InvalidInput("secret %s is %d characters, fewer than %d: whoever guesses it links the fleet's devices; make one with openssl rand -hex 32",
			FleetKeySecret, len(key), MinFleetKeyLen)
	}
	return Fleet{key: key, mark: fleetMark(key), devices: ids}, nil
}

// Admit reports whether a Connect's input carries the fleet key (compared in constant
// time), and returns the credentials that mark the linkage as the fleet's account under
// this key.
func (f Fleet) Admit(input map[string]string) (sdk.Credentials, bool) {
	given := input[FleetKeyInput]
	if f.key == "" || given == "" || subtle.ConstantTimeCompare([]byte(given), []byte(f.key)) != 1 {
		return nil, false
	}
	return sdk.Credentials{fleetCredential: f.mark}, true
}

// Devices are the fleet's devices, Verified, for an account Admit made under the current
// fleet key; none otherwise (an ordinary account, or one a replaced key admitted).
func (f Fleet) Devices(account sdk.Account, model string) []sdk.Device {
	got := account.Credentials[fleetCredential]
	if f.mark == "" || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(f.mark)) != 1 {
		return nil
	}
	out := make([]sdk.Device, 0, len(f.devices))
	for _, id := range f.devices {
		out = append(out, sdk.Device{ProviderDeviceID: id, Name: id, Model: model, Verified: true})
	}
	return out
}

// Merge is declared devices and verified ones, one device per id: where an id is in
// both, the verified device wins.
func Merge(declaredDevices, verified []sdk.Device) []sdk.Device {
	seen := make(map[string]bool, len(verified))
	out := make([]sdk.Device, 0, len(declaredDevices)+len(verified))
	for _, d := range verified {
		seen[d.ProviderDeviceID] = true
		out = append(out, d)
	}
	for _, d := range declaredDevices {
		if !seen[d.ProviderDeviceID] {
			out = append(out, d)
		}
	}
	return out
}
