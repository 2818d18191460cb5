// Package ttn is the provider for The Things Stack (The Things Network, LoRaWAN): it
// turns the stack's uplink webhooks into readings.
//
// # Setting up the webhook in The Things Stack
//
// Create a webhook (JSON format) whose base URL is the poolhost account URL
// /v1/webhooks/ttn/accounts/{accountId} (or the provider URL /v1/webhooks/ttn), enable
// "Uplink message", and add the header "Authorization: Bearer <secret>" with the
// account's secret. A message type's path may be left empty or set to one segment
// (/uplink, /join, …): the stack appends it to the base URL, and poolhost delivers the
// base URL followed by one segment as to the base URL itself (the message's own fields
// say what it is; a path of two segments or more is not found). An account that sends
// commands enables "Downlink sent", "Downlink ack", "Downlink nack" and "Downlink failed"
// too, the same way: they are how a command learns its fate. The stack signs nothing,
// so that header is the authentication; it is compared in constant time.
//
// # Linking
//
// Connect (kind webhook_secret) takes optional input "devices" (comma-separated end
// device ids, or DevEUIs when device_id_field = "dev_eui") and "name", generates a
// random secret and returns it in the linkage credentials under "webhook_secret" (the
// host passes it back as WebhookRequest.AccountSecret). DiscoverDevices returns the
// declared devices.
//
// # Settings (all optional)
//
//	auth_header       header carrying the secret (default "Authorization")
//	auth_scheme       scheme before the secret (default "Bearer" for Authorization, none otherwise)
//	field_map         decoded_payload key → metric[:unit] entries, merged over the defaults:
//	                  "temp:temperature:C,redox:orp:mV,water.ph:ph,luminosity:-"
//	                  (a dotted key reaches into nested objects; metric "-" ignores a key)
//	field_map.<app>   the same, for one application id only, merged over field_map
//	device_id_field   "device_id" (default) or "dev_eui": which end device id is the poolhost device id
//	simulated         "skip" (default) or "suspect": what to do with console-simulated uplinks
//	rssi              "true" also records the best gateway RSSI as signal_dbm
//
// Secret (optional): webhook_secret, the shared secret for the provider-level URL.
//
// # Parsing
//
// Each mapped numeric field of uplink_message.decoded_payload becomes a reading of the
// end device, recorded at uplink_message.received_at (the network server's receive
// time). A number in a string ("26.50", as JavaScript's toFixed gives it, which many
// Device Repository codecs use) is a number. Unmapped and non-numeric fields are
// ignored: a payload formatter emits whatever it likes. Events without an uplink_message (joins, downlink acks, …) and uplinks
// without a decoded payload give no readings, not errors. Simulated uplinks are skipped
// by default because they are test data typed into the console; with simulated =
// "suspect" they are kept with quality "suspect". The delivery id is the uplink's
// "as:up:" correlation id. Any other message is named by its type, that id and a hash
// of its body: the stack sends a location solved from the payload and each normalized
// uplink with the very correlation ids of their uplink, and before it. A body that is not JSON, or an uplink without a device id or
// with an unreadable timestamp, is a permanent error.
package ttn
