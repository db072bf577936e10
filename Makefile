# optraj: the two commands a newcomer needs are `make run` and `make test`.

GO      ?= go
DATA    ?= data/mnist
OUT     ?= out/mnist
ARGS    ?=

.PHONY: all build data run test vet check-ptx ptx bench gpu-check clean

all: build

build:
	$(GO) build -o bin/optraj ./cmd/optraj

# data fetches MNIST from the Go module proxy and checks its SHA-256 sums.
data:
	@scripts/fetch-mnist.sh $(DATA)

# run is the main job: train an MLP on MNIST with 10% flipped labels,
# record the trajectory, rank every training point with HyDRA.
run: data build
	bin/optraj attribute -data $(DATA) -out $(OUT) $(ARGS)

# test runs every test; the CUDA build's tests run against a mock driver.
test: data vet
	$(GO) test ./...
	$(GO) test -tags cuda ./device/...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || \
		{ gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags cuda ./...
	$(GO) build -tags cuda ./...

# ptx regenerates the embedded PTX with clang-19; check-ptx fails when the
# committed PTX differs from what clang makes of the sources.
ptx:
	kernels/gen.sh
check-ptx:
	kernels/check.sh

# bench runs our benchmarks and the PyTorch peer side by side.
bench: data
	scripts/install-peers.sh
	bench/run.sh

# gpu-check runs every check that needs a GPU (scripts/gpu-check.sh).
gpu-check:
	scripts/gpu-check.sh

clean:
	rm -rf bin out
