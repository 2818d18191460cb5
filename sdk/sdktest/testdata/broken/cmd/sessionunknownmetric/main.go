// Command sessionunknownmetric is a plugin binary whose test session has a metric the
// host does not know, for the tests of `poolhost plugins test`: the checks must fail it
// with the host's reason.
package main

import (
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest/testdata/broken"
)

func main() { sdk.Serve(broken.SessionUnknownMetric()) }
