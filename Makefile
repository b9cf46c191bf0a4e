# The README's two commands: `make run` and `make test`.
GO      ?= go
PKGS    := ./...
BIN     := bin
FUZZTIME ?= 20s

.PHONY: all build test vet fmt-check cross unit sim cover fuzz run bench soak clean

all: build

# Static binaries (CGO_ENABLED=0): no libc to map (hsu's idle memory), no
# dynamic loader for the exec helper, one file to copy to an edge box.
# User and group names then come from /etc/passwd and /etc/group (numeric
# ids always work); build with CGO=1 for NSS names (LDAP, SSSD).
CGO ?= 0
build:
	CGO_ENABLED=$(CGO) $(GO) build -o $(BIN)/ ./cmd/...

# test is what CI runs: formatting, vet, the darwin and windows builds,
# every test (fuzz seed corpora and testscripts included) under the race
# detector, and the simulator on every bundled scenario plus a 1000-seed
# swarm sweep.
test: fmt-check vet cross unit sim

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

cross:
	GOOS=darwin GOARCH=amd64 $(GO) build $(PKGS)
	GOOS=darwin GOARCH=arm64 $(GO) build $(PKGS)
	GOOS=windows GOARCH=amd64 $(GO) build $(PKGS)
	GOOS=windows GOARCH=amd64 $(GO) vet $(PKGS)
	GOOS=darwin GOARCH=arm64 $(GO) vet $(PKGS)

unit:
	$(GO) test -race -timeout 15m $(PKGS)

# sim replays every scenario (twice: the traces must match) and sweeps the
# chaos and stress scenarios under random fault mixes.
sim:
	$(GO) build -o $(BIN)/ ./cmd/hsu-sim
	$(call sim-checks,$(BIN)/hsu-sim)

# sim-checks is sim's work with the hsu-sim binary $(1), shared with cover
# so that cover counts exactly what sim runs.
define sim-checks
	$(1) run -q --check-determinism scenarios/*.yaml
	$(1) sweep scenarios/chaos.yaml --seeds 1000 --swarm
	$(1) sweep scenarios/stress.yaml --seeds 200 --swarm
endef

# cover measures statement coverage by what make test runs, and prints it
# per package and in total (docs/coverage.md). go test -cover alone counts
# only code run inside each test binary, not the hsu and hsu-sim processes
# the testscripts start, so here those are built with -cover and write
# their counters to GOCOVERDIR, next to the unit tests' (-test.gocoverdir);
# go tool covdata merges them into one profile, which COVER_TABLE sums per
# package (covdata percent runs a package without statements, such as
# fuzz, into the next line). Every package is instrumented everywhere
# (-coverpkg), so a package is credited for what other packages' tests run
# of it. No -race: it would force covermode atomic, and the unit counters
# and the binaries' must share a mode to merge. hsu-testworker is test
# infrastructure: not instrumented, and left out of the table. Everything
# goes in $(COVER)/ (git-ignored; cover.out there is for go tool cover
# -html).
COVER    := cover
COVERDIR := $(CURDIR)/$(COVER)
# COVER_TABLE: awk over the profile's FILE:START,END STATEMENTS COUNT lines.
COVER_TABLE := BEGIN { FS = "[: ]" } \
	NR == 1 || /\/cmd\/hsu-testworker\// { next } \
	{ p = $$1; sub(/\/[^\/]*$$/, "", p); sub(/^github.com\/hsu-run\/hsu\//, "", p); \
	  n[p] += $$(NF-1); all += $$(NF-1); if ($$NF > 0) { c[p] += $$(NF-1); hit += $$(NF-1) } } \
	END { printf "%-24s %10s %8s\n", "package", "statements", "covered"; \
	  for (p in n) printf "%-24s %10d %7.1f%%\n", p, n[p], 100 * c[p] / n[p] | "sort"; close("sort"); \
	  printf "%-24s %10d %7.1f%%\n", "total", all, 100 * hit / all }
cover:
	rm -rf $(COVER)
	mkdir -p $(COVER)/unit $(COVER)/script $(COVER)/sim $(COVER)/bin
	$(GO) test -count=1 -timeout 15m -cover -covermode=set -coverpkg=./... \
		$$($(GO) list ./... | grep -v '/testscripts$$') -args -test.gocoverdir=$(COVERDIR)/unit
	CGO_ENABLED=$(CGO) $(GO) build -cover -covermode=set -coverpkg=./... -o $(COVER)/bin/ ./cmd/hsu ./cmd/hsu-sim
	CGO_ENABLED=$(CGO) $(GO) build -o $(COVER)/bin/ ./cmd/hsu-testworker
	HSU_TEST_BIN=$(COVERDIR)/bin GOCOVERDIR=$(COVERDIR)/script $(GO) test -count=1 -timeout 15m ./testscripts
	$(call sim-checks,GOCOVERDIR=$(COVERDIR)/sim $(COVER)/bin/hsu-sim)
	@$(GO) tool covdata textfmt -i=$(COVER)/unit,$(COVER)/script,$(COVER)/sim -o $(COVER)/cover.out
	@echo "== statement coverage (unit tests, testscripts, simulator)"
	@awk '$(COVER_TABLE)' $(COVER)/cover.out

# bench runs the engine and simulator benchmarks (numbers: docs/BENCHMARKS.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./engine/ ./fakeos/

# soak kills hsu (SIGKILL) SOAK_ROUNDS times at random points of a cold
# start, a mass restart, a scale by reload and a shutdown, with cgroups
# and without (as nobody), restarting it each time on the same state dir
# (make test runs 12 in each).
SOAK_ROUNDS ?= 200
soak:
	HSU_CRASH_ROUNDS=$(SOAK_ROUNDS) $(GO) test -count=1 -timeout 60m -run '^TestCrashConsistency$$' -v ./testscripts/ | grep -v '^=== RUN'

# fuzz runs each fuzz target for FUZZTIME.
fuzz:
	@for p in ./fuzz/ ./api/; do \
		for t in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
			echo "== $$p $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
		done; \
	done

# run starts hsu in the foreground on the example; Ctrl-C stops every
# worker (twice: kills them at once).
run: build
	$(BIN)/hsu validate -f examples/hsu.yaml
	@echo "In a second shell, talk to it with:"
	@echo "  export PATH=\"$(CURDIR)/$(BIN):\$$PATH\" HSU_SOCKET=\"$(CURDIR)/.hsu-state/hsu.sock\""
	@echo "  hsu status; hsu logs -f api; hsu restart api; hsu events -f"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/hsu run -f examples/hsu.yaml --state-dir "$(CURDIR)/.hsu-state"

clean:
	rm -rf $(BIN) $(COVER)
