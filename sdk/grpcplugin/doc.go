// Package grpcplugin is the host side of the poolhost adapter wire protocol: the
// go-plugin plugin set the host launches plugins with, and [Client], which implements
// sdk.Adapter (plus sdk.Poller and sdk.HealthChecker) by calling a plugin over gRPC.
//
// It is used by the host; provider teams do not need it (they call sdk.Serve, and test
// with sdk/sdktest).
package grpcplugin
