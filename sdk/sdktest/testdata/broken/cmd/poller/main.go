// Command poller is a correct polling plugin binary (broken.Poller without a bug), for
// the tests of `poolhost plugins test` with a poll.json fixture.
package main

import (
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest/testdata/broken"
)

func main() { sdk.Serve(broken.NewPoller(broken.PollCorrect)) }
