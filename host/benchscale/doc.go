// Package benchscale is issue 20's scaling benchmark (make bench-scale): it loads N
// sensor readings (POOLHOST_BENCH_ROWS, default 10 million) across 10,000 pools straight
// into the tables — one reading per metric every 15 minutes from each device, pools of
// varied size and one large pool with a year of history — and measures, for the pool of
// median size and for the large pool, what grows with the data: the status query, the
// summaries of 24 hourly and 365 daily buckets, ingestion against the same benchmark on
// an empty database, and retention dropping one month. The rollup worker catches up
// with the load first, so the summaries read rollups as they would in service.
//
// The figures are printed with the targets and PASS or FAIL next to each; no
// test ever fails on a timing. make test runs only TestFigures, the same code at a tiny
// size, so the benchmark does not rot.
package benchscale
