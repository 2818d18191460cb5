// Package benchscale is issue 20's scaling benchmark (make bench-scale): it loads N
// sensor readings (POOLHOST_BENCH_ROWS, default 10 million) across 10,000 pools straight
// into the tables — one reading per metric every 15 minutes from each device, pools of
// varied size and one large pool with a year of history — and measures, for the pool of
// median size and for the large pool, what grows with the data: the status query, the
// summaries of 24 hourly and 365 daily buckets, ingestion against the same benchmark on
// an empty database, and retention dropping one month. The rollup worker catches up
// with the load first, so the summaries read rollups as they would in service.
//
// A kept database (POOLHOST_BENCH_DATABASE_URL, Config.DatabaseURL: an empty PostgreSQL
// database on a server the operator runs, its role allowed CREATEDB) is loaded by the
// first run, which records the plan (rows, pools, end time, loader version) in
// scale_plan; a later run asking for the same plan skips the load, and the rollups go on
// from the worker's watermark, so only the measuring is redone. A run whose plan differs
// is refused. Each run adds its ingest deliveries (to a pool of their own, measured pools
// untouched), and retention's drop of the oldest month, the last measurement, is undone by
// the next run: the month's rows are copied to scale_dropped_month before the first drop
// and put back, with their ids, before anything is measured. See Reuse.
//
// The figures are printed with the targets and PASS or FAIL next to each; no
// test ever fails on a timing. make test runs only TestFigures, the same code at a tiny
// size, so the benchmark does not rot.
package benchscale
