# GradientCoin worker. `make help` lists the targets.
GO      ?= go
BIN     ?= bin/gradientcoin
FUZZTIME ?= 5m

.DEFAULT_GOAL := help
.PHONY: help build test test-race bench fuzz lint kernels build-cuda cuda-toolkit

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build the gradientcoin binary (no CUDA) into bin/
	$(GO) build -o $(BIN) ./cmd/gradientcoin

test: ## run every test with the race detector (the README's test command)
	$(GO) test -race ./...

test-race: test ## alias of test

bench: ## run the Go benchmarks once each
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

fuzz: ## run every fuzz target for FUZZTIME each (default 5m)
	bash bench/fuzz.sh $(FUZZTIME)

lint: ## gofmt, go vet (default and cuda builds)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
