# poolhost — developer entry points. `make help` lists them.
GO       ?= go
BIN      := bin
PLUGINS  := $(wildcard plugins/*/cmd/poolhost-provider-*) $(wildcard examples/*/cmd/poolhost-provider-*)
CONFIG   ?= examples/dev.hcl
# Tests run with the race detector; the timeout is a backstop well inside CI's 90 minutes.
# Files a test keeps for a person to look at (a broken page's screenshot) land in
# test-artifacts/ (go test -artifacts).
TESTFLAGS ?= -race -count=1 -timeout 45m -artifacts -outputdir $(CURDIR)/test-artifacts
# Two Go modules: the host (this directory) and the plugin SDK (sdk/, its own module so a
# plugin's go.mod pulls in only the SDK's few dependencies). The host requires the SDK
# through `replace => ./sdk`, so both always build from this tree; every target that runs
# the go tool runs it in each module, because `./...` stops at a nested go.mod.
MODULES  := . sdk

.PHONY: help build run test bench bench-scale drill fuzz generate lint dev-secrets check-generate

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-15s %s\n", $$1, $$2}'

build: ## build both modules, bin/poolhost and one bin/plugins/poolhost-provider-<id> per plugin
	cd sdk && $(GO) build ./...
	$(GO) build -buildvcs=auto -o $(BIN)/poolhost ./host/cmd/poolhost   # commit + dirty flag for `poolhost version`
	@mkdir -p $(BIN)/plugins
	$(GO) build -o $(BIN)/plugins/ $(addprefix ./,$(PLUGINS))

run: build dev-secrets ## build everything and serve on SQLite with examples/dev.hcl
	./$(BIN)/poolhost serve --config $(CONFIG)

# Development secrets live in data/ (git-ignored) and are made once: the config reads
# them with file(), because secrets never appear inline in a config file.
dev-secrets: data/dev-credentials.key data/dev-webhook.secret data/dev-ttn.secret data/dev-template-client.secret

data/dev-credentials.key:
	@mkdir -p data && umask 077 && head -c 32 /dev/urandom | base64 > $@ && echo "generated $@"
data/dev-webhook.secret:
	@mkdir -p data && umask 077 && printf 'whsec_%s\n' "$$(head -c 32 /dev/urandom | base64)" > $@ && echo "generated $@"
data/dev-ttn.secret data/dev-template-client.secret:
	@mkdir -p data && umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' > $@ && echo "generated $@"

# The allocation guards (Test*Allocations) skip under the race detector, where sync.Pool
# drops items at random; the test target runs them once more without it.
test: ## the full suite of both modules: vet, gofmt, and every test (real SQLite, PostgreSQL, plugin binaries)
	@for m in $(MODULES); do echo "== vet $$m"; (cd $$m && $(GO) vet ./...) || exit 1; done
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$unformatted" ]; then echo "not gofmt-ed:"; echo "$$unformatted"; exit 1; fi
	@mkdir -p test-artifacts; rc=0; for m in $(MODULES); do echo "== test $$m"; (cd $$m && $(GO) test $(TESTFLAGS) ./...) || rc=1; done; \
	  for dir in $$(grep -rlE --include='*_test.go' '^func Test[A-Za-z0-9_]*Allocations\(' . | xargs -n1 dirname | sort -u); do \
	    echo "== allocations $$dir (no -race)"; (cd $$dir && $(GO) test -count=1 -run 'Allocations$$' .) || rc=1; done; exit $$rc

bench: ## benchmarks: plugin round trips, reading inserts, end-to-end webhook ingestion, idle poll ticks
	cd sdk && $(GO) test -run '^$$' -bench . -benchmem -count=1 ./...
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./host/...

# Not part of make test (TestScale skips without POOLHOST_BENCH_SCALE=1): loading ten million
# readings takes minutes. POOLHOST_BENCH_ROWS (10000000), POOLHOST_BENCH_SQLITE_ROWS (1000000;
# 0 skips SQLite) and POOLHOST_BENCH_POOLS (10000) size it; README.md lists the other knobs.
bench-scale: ## issue 20's scaling benchmark: status, summaries, ingest and retention at POOLHOST_BENCH_ROWS readings (POOLHOST_BENCH_DATABASE_URL keeps the load for reruns)
	POOLHOST_BENCH_SCALE=1 $(GO) test -run '^TestScale$$' -v -count=1 -timeout 0 ./host/benchscale/

drill: ## the replica drill at ten times make test's length (three serve replicas, a standby, kills), counts printed
	POOLHOST_DRILL_LONG=1 $(GO) test -race -run '^TestDrillReplicas$$' -v -count=1 -timeout 30m ./host/drill/

# Every untrusted-input parser has a Go fuzz target; `make test` runs their seed corpora.
FUZZTIME ?= 30s
fuzz: ## run each fuzz target for FUZZTIME (30s); a failing input lands in testdata/fuzz/
	@for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for t in $$(grep -h '^func Fuzz' $$dir/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "== $$dir $$t"; (cd $$dir && $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) .) || exit 1; \
	  done; done

generate: ## regenerate the committed protobuf/gRPC code
	bash sdk/proto/generate.sh

check-generate: generate ## fail when the committed generated code is stale
	git diff --exit-code -- sdk/internal

lint: ## vet (both modules) and gofmt
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
