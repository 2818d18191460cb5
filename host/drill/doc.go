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
//
// The package has no non-test code. -short shortens the load phases.
package drill
