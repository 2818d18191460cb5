// Package host holds what every part of the poolhost host shares: the error type whose
// codes the HTTP API, the CLI and the workers all translate from, the small domain
// vocabulary (roles, actors) they agree on, and the process's garbage-collector defaults
// (GC, which `poolhost serve` and the benchmark apply). Implementation packages below it are named
// after what they hold:
//
//   - cmd/poolhost: the binary (serve, migrate, config validate, plugins, users, backup…)
//   - config: the HCL configuration file, its defaults and its validation
//   - store: every SQL statement, on PostgreSQL and SQLite (migrations/ holds the schema)
//   - credentials: provider-account credentials sealed at rest (AES-256-GCM)
//   - pluginmgr: launching, supervising and calling provider plugin processes
//   - ingest: the one path from a plugin's readings to committed rows
//   - webhook: provider webhook deliveries, verified, parsed, ingested or queued
//   - retry: the worker that retries queued ingestion failures
//   - poll: the worker that polls provider accounts due for it
//   - connect: linking provider accounts (OAuth and credential flows), devices, the
//     operators' provider view
//   - users, auth, pools: users and API tokens, who is acting, the pool rules
//   - failures, audit, activity, retention: what operators read and act on, and pruning
//   - httpapi: the HTTP API (openapi.yaml), webhooks, OAuth callbacks, health, metrics
//   - console: the operators' server-rendered console at /ui/
//   - buildinfo: version and commit of this build
//   - drill, bench: fault drills and benchmarks (tests only)
//   - internal/worker: what the background workers share (loop, slots, outcomes, backoff)
//   - internal/pgtest, ingesttest, loadtest, browsertest: test harnesses
package host
