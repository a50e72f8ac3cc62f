# tokens: a Steampipe plugin for API tokens. `make help` lists the targets.

STEAMPIPE_INSTALL_DIR ?= $(HOME)/.steampipe
PLUGIN_DIR            := $(STEAMPIPE_INSTALL_DIR)/plugins/local/tokens
GO                    ?= go

.PHONY: help build install test unit vet e2e fdw demo bench fuzz fuzz-brief sandbox clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

build: ## Build the plugin binary into build/tokens.plugin
	$(GO) build -o build/tokens.plugin -tags netgo .

install: ## Install into Steampipe (~/.steampipe/plugins/local/tokens) and add config/tokens.spc if absent
	mkdir -p $(PLUGIN_DIR) $(STEAMPIPE_INSTALL_DIR)/config
	$(GO) build -o $(PLUGIN_DIR)/tokens.plugin -tags netgo .
	@if [ -e $(STEAMPIPE_INSTALL_DIR)/config/tokens.spc ]; then \
		echo "kept your $(STEAMPIPE_INSTALL_DIR)/config/tokens.spc"; \
	else \
		cp config/tokens.spc $(STEAMPIPE_INSTALL_DIR)/config/tokens.spc; \
		echo "installed $(STEAMPIPE_INSTALL_DIR)/config/tokens.spc: set your credentials there"; \
	fi

vet: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

unit: vet ## Go tests: race detector on, then the SDK execution path (see README, "Tests")
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 ./...

fuzz-brief: ## Each fuzz target for 3 seconds (part of make test)
	scripts/fuzz.sh 3s

test: unit fuzz-brief e2e ## Everything CI runs: vet, Go tests, brief fuzzing, SQL tests through a real PostgreSQL

fdw: ## Build the standalone Postgres extension into build/postgres/
	scripts/build-fdw.sh

e2e: fdw ## SQL tests: the extension in a throwaway PostgreSQL against the sandbox upstreams
	scripts/e2e.sh

demo: fdw ## Build, start PostgreSQL and the sandbox (or use real credentials), run documented queries
	scripts/demo.sh

bench: ## Benchmarks against the sandbox with injected latency; writes BENCHMARKS.md
	scripts/bench.sh

fuzz: ## Run each fuzz target for FUZZTIME (default 1m)
	scripts/fuzz.sh $${FUZZTIME:-1m}

sandbox: ## Run the upstream emulation on 127.0.0.1:8080 (see cmd/tokens-sandbox)
	$(GO) run ./cmd/tokens-sandbox -listen 127.0.0.1:8080 -config-out build/sandbox.spc

clean: ## Remove build outputs (keeps the warm build cache in .cache/)
	rm -rf build
