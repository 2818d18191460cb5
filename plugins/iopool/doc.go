// Package iopool is the poolhost adapter for iopool EcO sensors, through iopool's public
// API (API key, poll only).
//
// Settings (optional): base_url, default https://api.iopool.com, so a test or staging
// server can stand in. The user pastes the API key from the iopool app into Connect
// ({"api_key": "…"}); the adapter validates it with GET /v1/pools (header x-api-key) and
// links at once. The only credential stored is api_key.
//
// Choices worth knowing:
//   - External account id: "key:" + the first 16 hex digits of SHA-256(api key). The API
//     has no account endpoint; a pool id is not an account id (an account may have none,
//     several, or delete one). The hash is stable for the key's lifetime and reveals
//     nothing usable about a random key. A user who regenerates the key in the app gets
//     a new external id: they reconnect, and the old link stops polling (its key is
//     rejected and it turns reauth_required).
//   - Device id: the iopool pool id. The sensor's ecoId only appears inside latestMeasure
//     (absent before the first measure) and changes when the EcO is replaced, while the
//     pool id is always there; ecoId goes into device metadata instead.
//   - Readings come from the latestMeasure each GET /v1/pools entry carries (one request
//     per poll, whatever the number of pools): temperature (°C), ph and orp (mV) at
//     measuredAt. No latestMeasure, no readings. isValid=false or measure mode
//     "maintenance" (the probe is out of the water or being serviced) gives quality
//     suspect; the other modes (standard, live, manual, backup, gateway) only say how the
//     measure was taken or relayed and are good.
//   - Cursor: a JSON object {"<pool id>": "<measuredAt, RFC 3339>"} holding the last
//     measure returned per pool; a measure not newer than it is not returned again. A
//     pool an answer does not list keeps its entry, so an answer listing none for a while
//     does not make the next one return the same measures again.
//   - MinPollInterval 5 minutes: a poll is a single request per account and iopool
//     publishes no quota, so this is a conservative floor rather than a documented limit;
//     HTTP 429 is still handled as a temporary error, with its Retry-After (and a 503's)
//     handed to the host, which then polls the account no sooner.
//   - A 401/403 on Discover or Poll means the key was revoked: reauth.
package iopool
