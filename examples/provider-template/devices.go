package template

import (
	"context"

	"github.com/poolhost/poolhost/sdk"
)

// DiscoverDevices lists the account's Acme devices. The host stores them and lets the
// user link each one to a pool; readings from devices that are unknown or linked to no
// pool are dropped by the host, so discovery is what makes data flow.
func (a *Adapter) DiscoverDevices(ctx context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	s, err := a.session(req.Account)
	if err != nil {
		return sdk.DiscoverResult{}, err
	}
	devices, err := s.devices(ctx)
	if err != nil {
		return sdk.DiscoverResult{}, s.fail(err)
	}
	out := make([]sdk.Device, 0, len(devices))
	for _, d := range devices {
		// Acme listed it for this account's token: verified, so it may receive
		// provider-level deliveries.
		dev := sdk.Device{ProviderDeviceID: d.ID, Name: d.Name, Model: d.Model, Verified: true}
		if d.Firmware != "" {
			dev.Metadata = map[string]string{"firmware": d.Firmware}
		}
		out = append(out, dev)
	}
	return sdk.DiscoverResult{Devices: out, RefreshedCredentials: s.refreshed()}, nil
}
