# dingtoken: `make test` is what CI runs.
GO ?= go
# Modules nested in this repository (bench/, examples with their own go.mod);
# their dependencies never reach users of the library.
NESTED := $(patsubst ./%/go.mod,%,$(shell find . -mindepth 2 -name go.mod -not -path './.git/*'))
# Each module is built and tested on its own go.mod, as its users get it;
# go.work only serves commands typed at the repository root.
export GOWORK := off

.PHONY: all deps test bench fuzz

all: test

# memcached and Redis are needed by the tests, which start their own on free ports.
deps:
	@if ! command -v memcached >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing memcached"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached >/dev/null; \
		else \
			echo "memcached is missing: install it (Debian/Ubuntu: sudo apt-get install memcached; macOS: brew install memcached)"; \
			exit 1; \
		fi; \
	fi
	@if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing redis-server and redis-cli"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null; \
		else \
			echo "redis-server or redis-cli is missing: install them (Debian/Ubuntu: sudo apt-get install redis-server redis-tools; macOS: brew install redis)"; \
			exit 1; \
		fi; \
	fi

test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	@for m in $(NESTED); do \
		echo "== $$m"; \
		(cd $$m && $(GO) vet ./... && $(GO) test -race -count=1 ./...) || exit 1; \
	done

# Benchmarks of bench/ (a module of its own, so golang.org/x/oauth2 stays out
# of the library). TestSideBySide runs the comparisons interleaved, round
# after round, and prints BENCHMARKS.md's tables (about 15 minutes); the
# classic benchmarks (storms, expiry boundary, first token, Store round
# trips) follow, summarised by benchtable. Outputs: bench/bench.out and
# bench/bench-classic.out (never committed).
BENCH_ROUNDS ?= 200
BENCH_COUNT ?= 3
bench: deps
	cd bench && $(GO) test -run '^TestSideBySide$$' -v -count=1 -timeout 60m . -args -sidebyside all -rounds $(BENCH_ROUNDS) | tee bench.out
	@! grep -q -e '--- FAIL' -e '^FAIL' -e '^panic:' bench/bench.out
	cd bench && $(GO) test -run '^$$' -bench 'Storm|ExpiryBoundary|FirstToken|L2RoundTrip' -benchmem -count $(BENCH_COUNT) -timeout 30m . | tee bench-classic.out
	@! grep -q -e '--- FAIL' -e '^FAIL' -e '^panic:' bench/bench-classic.out
	cd bench && $(GO) run ./cmd/benchtable < bench-classic.out

# Each fuzz target for FUZZTIME (seed corpora in testdata/fuzz run in `make test`).
FUZZTIME ?= 60s
FUZZ_TARGETS := FuzzInspectResponse FuzzRejectionScan FuzzParseTokenResponse FuzzStoredValue
fuzz:
	@for f in $(FUZZ_TARGETS); do \
		echo "== $$f"; \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s . || exit 1; \
	done
