// Package generic is the "any device" provider: a device (or a small gateway script)
// POSTs signed JSON to poolhost. It needs no provider account and no API; each poolhost
// account is simply a webhook endpoint with its own secret.
//
// # Linking
//
// Connect (kind webhook_secret) takes optional user input
//
//	devices  comma-separated device ids the account will report, e.g. "pool-probe-1,spa"
//	name     a display name for the account (default "Generic webhook")
//
// and links at once: it generates a fresh Standard Webhooks secret ("whsec_" + base64 of
// 32 random bytes) and returns it in the linkage credentials under "webhook_secret",
// with the declared devices under "devices". The device sends to the account-scoped URL
// /v1/webhooks/generic/accounts/{accountId}, signed with that secret (the host passes it
// back as WebhookRequest.AccountSecret). DiscoverDevices returns the declared devices so
// the user can link them to pools; readings for undeclared devices are dropped by the
// host. To change the device list or rotate the secret, connect again.
//
// The provider-level URL /v1/webhooks/generic accepts deliveries signed with the
// optional provider secret "webhook_secret" (for an operator's own gateway); its device
// ids must then be known to the host some other way.
//
// # Signing
//
// Standard Webhooks (https://www.standardwebhooks.com): headers webhook-id,
// webhook-timestamp (Unix seconds, within ±5 minutes of receipt) and webhook-signature
// ("v1,<base64 HMAC-SHA256 of id.timestamp.body>", space-separated for rotation). The
// webhook-id is the idempotency key: resend a failed delivery with the same id.
//
// # Payload
//
// One device report, or a JSON array of them:
//
//	{
//	  "device_id": "pool-probe-1",
//	  "readings": [
//	    {"metric": "ph", "value": 7.4, "unit": "pH", "recorded_at": "2026-01-01T00:00:00Z"},
//	    {"metric": "temperature", "value": 78.8, "unit": "F", "quality": "good"}
//	  ]
//	}
//
// A sender following the payload structure Standard Webhooks recommends may wrap the
// report (or the array) in an event, {"type": "reading.created", "timestamp": "…",
// "data": <report>}, or put the report's fields beside type. An event that carries no
// report (a ping, a test event, another type) is nothing to store: it is answered 200 and
// audited as received, never dead-lettered.
//
// metric is a poolhost metric name (sdk/metric: ph, orp, temperature, free_chlorine, …);
// unit any spelling sdk/metric knows, empty meaning the canonical unit; recorded_at
// RFC 3339 (absent: when poolhost received it); quality optional (good, suspect,
// out_of_range). A body that is not this shape is rejected as permanent; readings the
// host cannot accept (unknown metric, absurd value) are dropped and counted by the host.
//
// A report may also carry water tests (a photometer's or a lab's panel of results),
// which the host stores as test sessions of the device's pool, never as readings:
//
//	"test_sessions": [
//	  {"taken_at": "2026-01-01T08:00:00Z", "method": "photometer", "notes": "after rain",
//	   "results": [{"metric": "free_chlorine", "value": 1.2, "unit": "ppm"},
//	               {"metric": "cyanuric_acid", "value": 40}]}
//	]
//
// taken_at absent means when poolhost received it; the device and taken_at identify a
// session, so a resent one is stored once. method is strips, drops, photometer, lab or
// other. Results are judged exactly as readings are.
//
// A value beyond the range of the method ("FC > 10") is sent as its bound with a
// qualifier, on a reading or a result: {"metric": "free_chlorine", "value": 10,
// "qualifier": "above"} ("below" for "< 0.1"). The host judges the qualifier.
package generic
