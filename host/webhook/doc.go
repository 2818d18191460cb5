// Package webhook is the webhook pipeline: it authenticates a provider's delivery through
// the provider's plugin, has the plugin parse it, and hands the readings to host/ingest.
// Its promise is that nothing acknowledged is ever lost and nothing unauthenticated is
// ever stored: a delivery is answered 200 when its readings are committed, 202 when its
// verified payload waits in integration_ingestion_failures for the retry worker (or, if
// it can never be parsed, as a dead letter), and 401 or 503 — with nothing stored — when
// it could not be authenticated.
//
// Verification and parsing travel in one RPC (IngestWebhook). When that RPC fails in a
// way that says nothing about authenticity — the plugin crashed, the call timed out, the
// plugin is restarting — the pipeline asks the plugin again with VerifyWebhook alone: a
// payload it confirms is queued for retry, and if the plugin cannot confirm it the
// provider is told 503 and redelivers. An error never turns into "verified" by default.
package webhook
