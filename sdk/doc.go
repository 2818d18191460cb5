// Package sdk is the poolhost provider SDK: the only package a provider team imports.
//
// A provider adapter is a stateless translator between one provider's API and poolhost's
// normalized shapes. It implements [Adapter] (and, when the provider can be polled,
// [Poller]) and hands itself to [Serve] from its main function. The host launches the
// resulting binary as a child process, speaks gRPC to it, and owns everything stateful:
// every call carries the credentials, settings and raw input it needs, and any call that
// refreshed credentials hands them back for the host to store.
//
// What a plugin returns is measured values only, in two shapes: [Reading]s, a sensor's
// values one by one, and [TestSession]s, water tests whose results were taken together on
// one sample (a photometer, a lab). The host keeps them apart — readings in the pool's
// sensor readings, sessions as the pool's test sessions — and judges both with the same
// vocabulary (sdk/metric). Pool configuration is never a measured value.
//
// What the host refuses of a plugin's [Description], and of a config block against it,
// is [Description.Check], [Description.CheckDeclarations] and [Description.CheckConfig]:
// the host calls them when it starts a plugin, the conformance kit on your Describe and
// fixture configuration, so both say the same thing in the same words.
//
// Subpackages: sdk/metric holds the metric vocabulary and unit conversions, sdk/signature
// the constant-time webhook signature checks, sdk/declared the device ids a user declares
// at connect, sdk/command the write/control vocabulary, sdk/judge what the host drops or
// refuses of an answer (the host's ingest and the kit both call it), sdk/sdktest the
// conformance kit and helpers for testing an adapter over the real wire (and
// sdk/sdktest/hosttest, a real poolhost in the loop), sdk/grpcplugin the wire shims: the
// host's client, which sdktest hands your tests so they call the plugin exactly as the
// host does, and sdk/tracing the OpenTelemetry tracing that Serve and [HTTPClient] use,
// and sdk/gctune the garbage-collector defaults Serve applies (the host applies its own
// through it). PLUGINS.md in the poolhost repository is the guide.
package sdk
