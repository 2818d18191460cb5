package main_test

import (
	"context"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/iopool/iopooltest"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// TestBinary builds this command and drives it the way the host does: a child process
// over go-plugin gRPC with AutoMTLS, against the fake iopool API.
func TestBinary(t *testing.T) {
	c := sdktest.LaunchBinary(t, sdktest.BuildBinary(t, "."))

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d, err := c.Describe(ctx)
	if err != nil || d.ID != "iopool" {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	srv := iopooltest.NewServer(t)
	if err := c.Configure(ctx, sdk.ConfigureRequest{Settings: map[string]string{"base_url": srv.URL}}); err != nil {
		t.Fatal(err)
	}
	acct := sdk.Account{Credentials: sdk.Credentials{"api_key": iopooltest.APIKey}}
	res, err := c.PollReadings(ctx, sdk.PollRequest{Account: acct})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Readings) != 3 {
		t.Errorf("poll returned %d readings, want the sample's 3", len(res.Readings))
	}
}
