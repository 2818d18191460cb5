// Package judge is the one judgement of what a plugin answers: the checks the host
// applies to a webhook or poll answer before it stores anything, and the checks the
// conformance kit (sdk/sdktest, `poolhost plugins test`) applies before a provider team
// ships. Both call this package, so a plugin the kit passes is a plugin the host accepts,
// and the kit names the same drop reason or refused cap the host would.
//
// Used by the host (host/ingest, host/pluginmgr) and by sdktest; a plugin need not import
// it, but may, to check its own output in tests.
//
// Two outcomes, in the order the host applies them:
//   - refused ([Answer]): the whole answer breaks a cap (too many readings, an id too
//     long, a string that is not UTF-8). The host stores none of it; a webhook is
//     dead-lettered, a poll fails without moving its cursor. The error names the cap.
//   - dropped ([Reading], [Session]): one reading, test session or result is left out,
//     counted under a reason (unknown_metric, bad_unit, too_old, …) that the webhook
//     answer reports to the sender. The rest is stored.
//
// What only the host can judge — whether a device id is known, linked, owned — is not
// here: it needs the host's database (host/ingest's device reasons).
package judge
