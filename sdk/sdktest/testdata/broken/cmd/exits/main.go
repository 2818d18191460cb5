// Command exits is a plugin binary whose process exits while it parses a delivery, as a
// plugin with a fatal bug does: the checks must say the process exited, with what it last
// wrote to stderr, and not run the checks after it.
package main

import (
	"context"
	"os"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest/testdata/broken"
)

type exits struct{ broken.Good }

func (exits) Webhook(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error) {
	sdk.Logger().Error("fatal error: out of memory in the parser")
	os.Exit(3)
	return sdk.WebhookResult{}, nil
}

func main() { sdk.Serve(exits{}) }
