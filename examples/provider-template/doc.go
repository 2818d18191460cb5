// Package template is a complete poolhost provider adapter for an imagined provider,
// "Acme Pool Cloud", written to be copied. It shows every part of the contract working
// against a realistic API: OAuth2 authorization-code linking, token refresh (and what to
// do when refresh fails), device discovery, signed webhooks, polling with a cursor, and
// health.
//
// To start a new provider:
//
//  1. Copy examples/provider-template to plugins/<id> and rename the package and the
//     command directory (cmd/poolhost-provider-<id>); outside this repository, make it
//     its own module as PLUGINS.md's quick start says ("An OAuth2 provider that polls").
//  2. Change ID, the settings in Describe, and the upstream shapes in upstream.go.
//  3. Rewrite the acmetest package to speak your provider's documented API, then make
//     the tests pass against it.
//
// The files are split by concern so each can be replaced on its own:
//
//	template.go   Describe, Configure, Health: who the plugin is and its settings
//	oauth.go      Connect and Callback: the OAuth2 authorization-code handshake
//	upstream.go   the HTTP client for the provider API, token refresh, error mapping
//	devices.go    DiscoverDevices
//	readings.go   mapping provider measurements to sdk.Reading
//	webhook.go    VerifyWebhook and Webhook
//	poll.go       PollReadings and its cursor
//
// The adapter is stateless apart from its configuration: the host hands every call the
// account's credentials and stores whatever refreshed credentials a call returns — in
// the result, or on the error (sdk.WithRefreshedCredentials) when the call refreshed
// and then failed. Never cache tokens in the plugin; the host may run several replicas
// and restarts plugins.
package template
