// Command poolhost-provider-iopool is the iopool provider plugin. The poolhost host
// launches it; run by hand it only explains that it is a plugin.
package main

import (
	"github.com/poolhost/poolhost/plugins/iopool"
	"github.com/poolhost/poolhost/sdk"
)

func main() {
	sdk.Serve(iopool.New())
}
