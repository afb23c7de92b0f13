# tikvsim build targets. `make test` is what CI runs.
GO ?= go
PKGS := ./...
# invariants turns on the assertion checks in the simulator and the fake cluster.
TAGS := -tags invariants

.PHONY: test vet fmt-check race sim bench cover

test: vet fmt-check
	$(GO) test $(TAGS) -count=1 $(PKGS)

vet:
	$(GO) vet $(TAGS) $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

race:
	$(GO) test $(TAGS) -race -count=1 $(PKGS)

# sim runs a bigger seed sweep than CI does.
SIM_SEEDS ?= 1-1000
sim:
	SIM_SEEDS=2000 $(GO) test $(TAGS) -count=1 -timeout 30m -run 'Determinism' ./sim/harness
	$(GO) build $(TAGS) -o /tmp/tikvsim-simrun ./cmd/simrun
	for w in counter register bank append rw-register set; do \
		/tmp/tikvsim-simrun --workload $$w --faults swarm --seeds $(SIM_SEEDS) --parallel 2 || exit 1; \
	done

bench:
	$(GO) test $(TAGS) -run '^$$' -bench . -benchmem $(PKGS)

cover:
	$(GO) test $(TAGS) -count=1 -coverprofile=cover.out $(PKGS)
	$(GO) tool cover -func=cover.out | tail -1
