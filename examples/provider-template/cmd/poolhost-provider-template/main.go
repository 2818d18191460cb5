// Command poolhost-provider-template is the template provider's plugin binary. The
// host launches it; run by hand it only explains that it is a plugin. Keep main this
// small: everything worth testing lives in the library package.
package main

import (
	template "github.com/poolhost/poolhost/examples/provider-template"
	"github.com/poolhost/poolhost/sdk"
)

func main() {
	sdk.Serve(template.New())
}
