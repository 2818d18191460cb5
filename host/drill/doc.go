// Package drill holds the ingestion fault drills: tests, with the real generic plugin
// binary, the real poolhost binary and a private PostgreSQL cluster each, that break
// things under load and then check the promise of the webhook pipeline — every delivery
// the host acknowledged (200 or 202) is stored exactly once, and nothing is stored twice.
//
//   - TestDrillPluginKilled: kill -9 the plugin, again and again, while 50 clients post.
//   - TestDrillPostgresDown: stop PostgreSQL mid-load; deliveries get 503 while it is
//     down, and everything acknowledged before or after is stored once it is back.
//   - TestDrillTwoHosts: two `poolhost serve` processes on one PostgreSQL drain 1,000
//     queued failures; each is parsed and resolved exactly once.
//   - TestDrillReplicas: three replicas and a streaming standby under load, one
//     SIGKILLed, one drained, the standby restarted; deliveries, dead letters, polls
//     and commands each handled by exactly one replica (make drill: the long version).
//
// The package has no non-test code. -short shortens the load phases.
package drill
