// Command afterserve is a plugin for sdktest's own tests whose main has code after
// sdk.Serve: it writes a file beside its binary if Serve ever returns, which PLUGINS.md
// and Serve's doc say it never does.
package main

import (
	"context"
	"os"

	"github.com/poolhost/poolhost/sdk"
)

type probe struct{ sdk.UnsupportedAdapter }

func (probe) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "afterserve", Version: "0.1.0", ProtocolVersion: sdk.ProtocolVersion}, nil
}

func (probe) Configure(context.Context, sdk.ConfigureRequest) error { return nil }

func main() {
	sdk.Serve(probe{})
	_ = os.WriteFile(os.Args[0]+".returned", []byte("sdk.Serve returned\n"), 0o600)
}
