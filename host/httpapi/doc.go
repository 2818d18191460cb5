// Package httpapi is the host's HTTP surface: the /v1 JSON API described by openapi.yaml
// (served at /v1/openapi.yaml), provider webhooks, OAuth callbacks, the operators' admin
// routes, /healthz and /readyz, and /metrics. It only translates: requests are decoded
// and authenticated here (bearer tokens, per-token and per-client rate limits, trusted
// proxies), then handed to the domain packages (users, pools, connect, webhook, failures,
// audit, activity); their *host.Error codes become statuses with a problem+json body
// (problem.go), so every bad input gets the right status and says what was wrong. No
// SQL and no plugin call is made from this package directly.
package httpapi
