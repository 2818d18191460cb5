// Command poolhost-provider-ttn is The Things Stack provider's plugin binary, launched
// by the host.
package main

import (
	"github.com/poolhost/poolhost/plugins/ttn"
	"github.com/poolhost/poolhost/sdk"
)

func main() {
	sdk.Serve(ttn.New())
}
