// Command floods is a plugin binary answering 200,000 readings, for the tests of
// `poolhost plugins test`: the checks must fail it with the cap the host refuses it by.
package main

import (
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest/testdata/broken"
)

func main() { sdk.Serve(broken.Floods()) }
