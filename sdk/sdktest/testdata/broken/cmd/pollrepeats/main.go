// Command pollrepeats is a polling plugin binary whose cursor resumes at its last
// reading rather than after it, so each poll answers that reading again: `poolhost
// plugins test` with a poll.json fixture must fail it.
package main

import (
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest/testdata/broken"
)

func main() { sdk.Serve(broken.NewPoller(broken.PollInclusiveCursor)) }
