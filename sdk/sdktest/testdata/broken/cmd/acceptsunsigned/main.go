// Command acceptsunsigned is a plugin binary that accepts every webhook, for the tests
// of `poolhost plugins test`: the checks must fail it.
package main

import (
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest/testdata/broken"
)

func main() { sdk.Serve(broken.AcceptsUnsigned{}) }
