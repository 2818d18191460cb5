// Command poolhost-provider-generic is the generic signed-webhook provider's plugin
// binary, launched by the host.
package main

import (
	"github.com/poolhost/poolhost/plugins/generic"
	"github.com/poolhost/poolhost/sdk"
)

func main() {
	sdk.Serve(generic.New())
}
