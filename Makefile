# tokens: a Steampipe plugin for API tokens. `make help` lists the targets.

STEAMPIPE_INSTALL_DIR ?= $(HOME)/.steampipe
PLUGIN_DIR            := $(STEAMPIPE_INSTALL_DIR)/plugins/local/tokens
GO                    ?= go
SDK                   := github.com/turbot/steampipe-plugin-sdk/v5
PATCHED_SDK           := -modfile=.cache/sdk-patched.mod
STATICCHECK           := honnef.co/go/tools/cmd/staticcheck@v0.8.2
export PATH           := /usr/local/go/bin:$(PATH)

.PHONY: help deps build install vet lint sdk-patched unit fuzz-brief fuzz test fdw e2e powerpipe steampipe demo demo-stop bench profile spec-check spec-check-if-present sandbox clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

deps: ## Install the Debian packages the tests and the demo need (PostgreSQL headers pinned to the server)
	scripts/deps.sh

build: sdk-patched ## Build the plugin binary into build/tokens.plugin (against the patched SDK)
	$(GO) build $(PATCHED_SDK) -o build/tokens.plugin -tags netgo .

install: sdk-patched ## Install into Steampipe (~/.steampipe/plugins/local/tokens) and add config/tokens.spc if absent
	mkdir -p $(PLUGIN_DIR) $(STEAMPIPE_INSTALL_DIR)/config
	$(GO) build $(PATCHED_SDK) -o $(PLUGIN_DIR)/tokens.plugin -tags netgo .
	@if [ -e $(STEAMPIPE_INSTALL_DIR)/config/tokens.spc ]; then \
		echo "kept your $(STEAMPIPE_INSTALL_DIR)/config/tokens.spc"; \
	else \
		cp config/tokens.spc $(STEAMPIPE_INSTALL_DIR)/config/tokens.spc; \
		echo "installed $(STEAMPIPE_INSTALL_DIR)/config/tokens.spc: set your credentials there"; \
	fi

vet: ## go vet and gofmt
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e
	$(GO) vet -tags specs ./internal/sandbox
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: ## staticcheck, pinned
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(STATICCHECK) -tags e2e ./e2e
	$(GO) run $(STATICCHECK) -tags specs ./internal/sandbox

sdk-patched: ## A copy of the SDK with patches/ applied (.cache/sdk-patched), for the plugin binary, the race-detector run and the benchmarks
	$(GO) run ./internal/tools/patchmod -modfile .cache/sdk-patched.mod .cache/sdk-patched $(SDK)@$$($(GO) list -m -f '{{.Version}}' $(SDK))

unit: vet lint sdk-patched ## Go tests: race detector on (against the patched SDK), then as Steampipe builds it
	$(GO) test -race -shuffle=on -count=1 $(PATCHED_SDK) -tags sdkpatched ./...
	$(GO) test -shuffle=on -count=1 ./...
	cd internal/sandbox/gitlabcheck && $(GO) vet ./... && $(GO) test -count=1 ./... # the sandbox against GitLab's Go client's types

fuzz-brief: ## Each fuzz target for 3 seconds (part of make test)
	$(GO) run ./internal/tools/fuzzall -fuzztime 3s

fuzz: ## Each fuzz target for FUZZTIME (default 1m)
	$(GO) run ./internal/tools/fuzzall -fuzztime $${FUZZTIME:-1m}

test: unit fuzz-brief e2e spec-check-if-present ## Everything CI runs: vet, lint, Go tests, fuzzing, SQL and Powerpipe tests through a real PostgreSQL and the Steampipe CLI (and spec-check where SPECS exists)

fdw: deps ## Build the standalone PostgreSQL extension into build/postgres/
	scripts/build-fdw.sh

powerpipe: ## Build Powerpipe v1.5.2 into .cache/powerpipe (once; seconds when it is there)
	$(GO) run ./internal/tools/buildpowerpipe

steampipe: deps ## Build Steampipe v1.1.3 and its wrapper (steampipe-postgres-fdw v1.13.0, multi-plugin, unpatched) into .cache/steampipe
	$(GO) run ./internal/tools/buildsteampipe

e2e: fdw powerpipe steampipe ## SQL and Powerpipe tests: the extension in a throwaway PostgreSQL, and the Steampipe CLI with make install; against the sandbox
	$(GO) test -tags e2e -shuffle=on -count=1 -timeout 30m ./e2e

demo: fdw powerpipe ## Start PostgreSQL with the extension and the sandbox (or real credentials), run the documented queries and the benchmark
	$(GO) run ./cmd/tokens-demo

demo-stop: ## Stop what make demo started
	$(GO) run ./cmd/tokens-demo stop

bench: fdw sdk-patched ## Benchmarks against the sandbox with 25 ms of latency; writes BENCHMARKS.md
	$(GO) run ./internal/tools/benchreport -run

profile: fdw sdk-patched ## CPU and heap profiles of one full listing, in process and in a PostgreSQL backend (build/profile/)
	$(GO) run ./internal/tools/benchreport -profile

SPECS ?= $(or $(TOKENS_SPECS),$(abspath $(CURDIR)/../shared/specs))

spec-check: ## The sandbox against the vendors' own specs and tests (in SPECS, default ../shared/specs)
	TOKENS_SPECS=$(SPECS) $(GO) test -tags specs -count=1 ./internal/sandbox

spec-check-if-present:
	@if [ -d "$(SPECS)" ]; then $(MAKE) --no-print-directory spec-check; \
	else echo "spec-check not run: $(SPECS) is not here (the vendors' files are not part of the repository)"; fi

sandbox: ## Serve the upstream emulation on 127.0.0.1:8080 (see cmd/tokens-sandbox)
	$(GO) run ./cmd/tokens-sandbox -listen 127.0.0.1:8080 -config-out build/sandbox.hcl

clean: ## Remove build outputs (keeps the caches in .cache/)
	rm -rf build
