// Package grpcplugin is the host side of the poolhost adapter wire protocol: the
// go-plugin plugin set the host launches plugins with, and [Client], which implements
// sdk.Adapter (plus sdk.Poller and sdk.HealthChecker) by calling a plugin over gRPC.
//
// It is part of the provider teams' kit. A plugin's main calls sdk.Serve and never
// imports this package, but the tests do: sdktest.Connect (the adapter in-process) and
// sdktest.LaunchBinary (the built binary, launched as the host does) return a *[Client],
// the very client the host uses. Call it as the host would — Describe, Configure,
// IngestWebhook, PollReadings... — and what it answers is what the host sees, errors
// included: their sdk.ErrorKind and rejection reason survive the wire (check them with
// sdktest.WantKind and sdk.RejectReason). It keeps the same compatibility promise as the
// rest of the SDK module.
package grpcplugin
