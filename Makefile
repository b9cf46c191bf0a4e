# The README's two commands: `make run` and `make test`.
GO      ?= go
PKGS    := ./...
BIN     := bin
FUZZTIME ?= 20s

.PHONY: all build test vet fmt-check cross unit sim fuzz run bench clean

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
	$(BIN)/hsu-sim run -q --check-determinism scenarios/*.yaml
	$(BIN)/hsu-sim sweep scenarios/chaos.yaml --seeds 1000 --swarm
	$(BIN)/hsu-sim sweep scenarios/stress.yaml --seeds 200 --swarm

# bench runs the engine and simulator benchmarks (numbers: docs/BENCHMARKS.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./engine/ ./fakeos/

# fuzz runs each fuzz target for FUZZTIME.
fuzz:
	@for t in $$($(GO) test -list '^Fuzz' ./fuzz/ | grep '^Fuzz'); do \
		echo "== $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./fuzz/ || exit 1; \
	done

# run starts hsu in the foreground on the example; Ctrl-C stops every
# worker (twice: kills them at once).
run: build
	$(BIN)/hsu validate -f examples/hsu.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/hsu run -f examples/hsu.yaml --state-dir "$(CURDIR)/.hsu-state"

clean:
	rm -rf $(BIN)
