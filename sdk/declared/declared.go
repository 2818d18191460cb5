// Package declared serves the devices a user declares when connecting an account, for
// providers with no device list of their own to ask — typically webhook_secret
// providers, whose accounts are just endpoints. Connect parses the user's input with
// [Parse] and stores [Join] of it in the linkage credentials; DiscoverDevices turns the
// stored list back into devices with [Devices] so the user can link them to pools (the
// host drops readings of devices that are not linked).
package declared

import (
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
