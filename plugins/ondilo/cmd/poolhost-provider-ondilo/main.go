// Command poolhost-provider-ondilo is the Ondilo ICO provider plugin. The poolhost host
// launches it; run by hand it only explains that it is a plugin.
package main

import (
	"github.com/poolhost/poolhost/plugins/ondilo"
	"github.com/poolhost/poolhost/sdk"
)

func main() {
	sdk.Serve(ondilo.New())
}
