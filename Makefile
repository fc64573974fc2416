# Makefile for retrycoord. `make` alone lists the targets.
#
# Overrides (on the command line, e.g. `make bench PKG=./state BENCH=Admit`):
#   PKG       package pattern for test, bench and fuzz    (default ./...)
#   BENCH     benchmark regexp for bench                  (default .)
#   FUZZTIME  fuzzing time per fuzz target for fuzz       (default 30s)
#   VERSION   version stamped into the binary by build    (default: git describe, else "dev")
#   COMMIT    commit stamped into the binary by build     (default: short HEAD, else "unknown")
#   MUTATE_PKG, MUTATE_FILES, MUTATE_RUN  packages, files and tests for mutate (default: policy state cluster coord, all files, all tests)
#   SOAK_SEEDS, SOAK_DURATION seeds (a count or a list) and length of each soak-long run (10, 5m)
#   STALL_TIME how long stalls measures                      (default 20s)

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO       ?= go
PKG      ?= ./...
BENCH    ?= .
FUZZTIME ?= 30s
STALL_TIME ?= 20s
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

.PHONY: help test lint mutate soak-long fmt-check vet staticcheck tidy-check bench stalls fuzz integration run demo build clean

help: ## list the targets
	@echo "usage: make <target> [PKG=./...] [BENCH=.] [FUZZTIME=30s]"
	@echo
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_-]+:.*## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

test: ## install test dependencies (redis-server, chromium, …), then run all tests with -race
	bash scripts/ensure-test-deps.sh
	$(GO) test -race -count=1 -timeout 15m $(PKG)

lint: fmt-check vet staticcheck tidy-check ## gofmt, go vet, staticcheck and go mod tidy -diff

# Checks the .go files git knows about: tracked ones, plus new ones that are not
# ignored (so a file is checked before its first commit). testdata is skipped,
# as the go command skips it.
fmt-check: ## fail if any .go file is not gofmt-formatted
	@files=(); \
	while IFS= read -r -d '' f; do \
		[[ -f "$$f" && "$$f" != testdata/* && "$$f" != */testdata/* ]] && files+=("$$f"); \
	done < <(git ls-files -z --cached --others --exclude-standard -- '*.go'); \
	(( $${#files[@]} == 0 )) && exit 0; \
	out=$$(gofmt -l "$${files[@]}"); \
	if [[ -n "$$out" ]]; then echo "gofmt -l reports unformatted files (run gofmt -w):"; echo "$$out"; exit 1; fi

vet: ## go vet ./...
	$(GO) vet ./...

staticcheck: ## staticcheck ./... (pinned as a tool in go.mod)
	$(GO) tool staticcheck ./...

tidy-check: ## fail if go.mod/go.sum are not tidy
	$(GO) mod tidy -diff

bench: ## run benchmarks (BENCH=regexp, PKG=./state)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem $(PKG)

stalls: ## how late 1ms sleeps wake on this machine (STALL_TIME=20s): is it quiet enough for tail benchmarks?
	$(GO) run ./internal/cmd/stallmeter -d $(STALL_TIME)

fuzz: ## run every fuzz target for FUZZTIME each (PKG narrows the packages)
	FUZZTIME='$(FUZZTIME)' bash scripts/fuzz.sh $(PKG)

.PHONY: soak
soak: ## in-process chaos soak of seven nodes, about a minute (SOAK_SEED=n to replay, SOAK_DURATION=60s)
	cd integration && RETRYCOORD_SOAK=1 SOAK_SEED='$(SOAK_SEED)' SOAK_DURATION='$(or $(SOAK_DURATION),60s)' \
		$(GO) test -race -count=1 -timeout 10m -v -run '^TestSoak$$' . | { grep -Ev '^(=== RUN|--- PASS|PASS$$|ok[[:space:]])' || true; }

# Seeds of soak-long: a count N (seeds 1..N) or a list ("7 42 99").
SOAK_SEEDS ?= 10

soak-long: ## SOAK_SEEDS soaks of SOAK_DURATION each (default 10 seeds × 5m), one `soak:` summary line per seed; fails if any did
	@seeds='$(SOAK_SEEDS)'; [[ $$seeds =~ ^[0-9]+$$ ]] && seeds=$$(seq 1 $$seeds); fail=0; \
	for s in $$seeds; do \
		out=$$($(MAKE) --no-print-directory soak SOAK_SEED=$$s SOAK_DURATION='$(or $(SOAK_DURATION),5m)' 2>&1) || fail=1; \
		if grep -q 'violations=0' <<<"$$out" && ! grep -qE '^(--- FAIL|FAIL)' <<<"$$out"; then \
			grep -E '^soak: nodes=' <<<"$$out" | sed "s/^soak: /soak: seed=$$s /"; \
		else fail=1; echo "$$out"; fi; \
	done; exit $$fail

# Mutation testing. MUTATE_PKG narrows the packages, MUTATE_FILES the files
# (names within each package), e.g.
#   make mutate MUTATE_PKG=./state MUTATE_FILES="breaker.go record.go"
# and MUTATE_RUN the tests run for each mutant (a -run regexp).
mutate: ## mutation testing (gremlins, no -race): one `mutate:` line per package (MUTATE_PKG=./state MUTATE_FILES=breaker.go MUTATE_RUN=TestX); slow, not in .ci/run
	nice -n 10 bash scripts/mutate.sh $(MUTATE_PKG)

integration: ## build the images, start the compose stack, run the compose suite, stop it (logs kept on failure)
	bash scripts/integration.sh

.PHONY: docker up down
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

docker: ## build static binaries and the images retrycoord:local, retrycoord/proxyfarm:local, retrycoord/redis:local
	bash scripts/docker-build.sh

up: ## start the three-node compose stack, no registry needed (rebuilds changed images; writes .env if missing)
	COMPOSE='$(COMPOSE)' bash scripts/up.sh

down: ## stop the compose stack and remove its volumes
	$(COMPOSE) --profile intruder down -v --remove-orphans

run: ## run a dev agent on loopback over examples/pool.txt, with a local proxy farm
	bash scripts/run.sh

demo: ## three agents and a proxy farm on loopback: break a proxy, watch the fleet open its breaker
	bash scripts/demo.sh

build: ## build a static bin/retrycoord stamped with VERSION and COMMIT
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o bin/retrycoord ./cmd/retrycoord

.PHONY: ui-shot
ui-shot: ## bin/ui.png: node 1's live view (/ui/) in a three-node demo fleet, in headless Chromium
	bash scripts/ensure-test-deps.sh
	mkdir -p bin
	RETRYCOORD_UI_SHOT='$(CURDIR)/bin/ui.png' $(GO) test -count=1 -run '^TestUIFleet$$' ./cmd/retrycoord
	@echo "wrote bin/ui.png"

clean: ## remove bin/
	rm -rf bin/
