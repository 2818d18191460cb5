// Package signature authenticates raw webhooks in constant time. It covers the three
// schemes poolhost providers use:
//
//   - [StandardWebhooks]: the Standard Webhooks scheme (https://www.standardwebhooks.com),
//     HMAC-SHA256 over "id.timestamp.body" with a ±5 minute replay window and several
//     signatures per header so senders can rotate secrets;
//   - [HexHMAC]: a hex HMAC-SHA256 of the body in one header, GitHub's
//     "X-Hub-Signature-256: sha256=<hex>" style;
//   - [SharedSecret]: a static secret in a header, e.g. "Authorization: Bearer <secret>"
//     as configured on a The Things Stack webhook.
//
// Every verification failure is an error of kind [sdk.KindRejected], so an adapter's
// VerifyWebhook can return it unchanged. Messages name the reason (missing header,
// malformed header, timestamp outside tolerance, bad signature) but never the secret or
// the expected signature; errors.Is against ErrMissingHeader, ErrMalformedHeader,
// ErrTimestamp and ErrBadSignature tells them apart in code.
package signature
