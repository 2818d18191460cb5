// Package host holds what every part of the poolhost host shares: the error type whose
// codes the HTTP API, the CLI and the workers all translate from, and the small domain
// vocabulary (roles, actors) they agree on. Implementation packages below it are named
// after what they hold: config, store, credentials, pluginmgr, ingest, retry, poll,
// httpapi.
package host
