package ondilo_test

import (
	"testing"

	"github.com/poolhost/poolhost/plugins/ondilo"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// transports: every test runs against the adapter directly and through the same gRPC
// shims and conversions the host uses.
var transports = []transport{
	{name: "direct", wrap: func(_ *testing.T, a *ondilo.Adapter) client { return a }},
	{name: "wire", wrap: func(t *testing.T, a *ondilo.Adapter) client { return sdktest.Connect(t, a) }},
}
