# GradientCoin worker. `make help` lists the targets.
GO      ?= go
BIN     ?= bin/gradientcoin
FUZZTIME ?= 5m
COMMIT  := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
LDFLAGS := -X main.commit=$(COMMIT)

.DEFAULT_GOAL := help
.PHONY: help build test test-race bench fuzz lint kernels build-cuda cuda-toolkit

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build the gradientcoin binary (no CUDA) into bin/
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/gradientcoin

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

# --- CUDA (gpu/, kernels/): the default build and `make test` need none of this.
NVCC ?= nvcc
CUDA_BIN ?= bin/gradientcoin-cuda

cuda-toolkit: ## install the pinned CUDA 11.8 toolkit (Debian non-free, needs root)
	bash third_party/cuda-toolkit.sh

kernels: ## rebuild kernels/*.fatbin from kernels/*.cu with nvcc 11.8 (reproducible)
	NVCC=$(NVCC) bash kernels/build.sh

build-cuda: ## build with -tags gccuda: bin/gradientcoin-cuda and the GPU test binaries in .gpu/
	$(GO) build -tags gccuda -ldflags "$(LDFLAGS)" -o $(CUDA_BIN) ./cmd/gradientcoin
	bash bench/gpu.sh build
