package sdk_test

import (
	"context"

	"github.com/poolhost/poolhost/sdk"
)

// acme is the smallest useful adapter: it describes itself and takes its configuration;
// UnsupportedAdapter answers everything else with a KindUnsupported error.
type acme struct {
	sdk.UnsupportedAdapter
}

func (acme) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{
		ID:              "acme",
		Version:         "0.1.0",
		ProtocolVersion: sdk.ProtocolVersion,
		Capabilities:    sdk.Capabilities{Connect: sdk.ConnectNone},
	}, nil
}

func (acme) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	sdk.Logger().Info("configured", "settings", len(req.Settings)) // never log the secrets
	return nil
}

// A provider binary's main hands its adapter to Serve, which never returns.
func ExampleServe() {
	sdk.Serve(acme{})
}
