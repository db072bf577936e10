#!/usr/bin/env bash
# gpu-check.sh runs the checks that need a GPU, in under 8 minutes on one
# H200, and writes what they print under $OUT (default out/gpu-check):
#
#   1. build with -tags cuda and list the devices;
#   2. validate every kernels/*.ptx with ptxas for sm_80 and sm_90;
#   3. run the conformance suite on the GPU (TestCUDA);
#   4. run the main job with -device cuda and with -device cpu, and put
#      their detection tables side by side;
#   5. run the GPU benchmarks: our Gemm against cuBLAS through PyTorch,
#      and a training epoch and a HyDRA scoring pass on the GPU, beside
#      PyTorch's eager mode on the same GPU (bench/peers/torch_mlp.py).
#
# A step that fails is reported and the script goes on; it exits non-zero
# if any step failed. Usage: OUT=folder scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-out/gpu-check}
mkdir -p "$out"
log="$out/gpu-check.txt"
: >"$log"
failed=()

# step NAME SECONDS CMD...: runs CMD with a time limit, logging its output.
step() {
	local name=$1 limit=$2
	shift 2
	echo "== $name" | tee -a "$log"
	local start=$SECONDS
	if timeout "$limit" bash -c '"$@"' step "$@" >>"$log" 2>&1; then
		echo "   ok ($((SECONDS - start)) s)" | tee -a "$log"
	else
		echo "   FAILED ($((SECONDS - start)) s)" | tee -a "$log"
		failed+=("$name")
	fi
}

find_ptxas() {
	command -v ptxas 2>/dev/null && return
	ls /usr/local/cuda*/bin/ptxas 2>/dev/null | head -n 1
}

check_ptx() {
	local ptxas
	ptxas=$(find_ptxas)
	if [[ -z "$ptxas" ]]; then
		echo "ptxas not found: PTX not validated"
		return 1
	fi
	local f arch status=0
	for f in kernels/*.ptx; do
		for arch in sm_80 sm_90; do
			echo "-- $f $arch"
			"$ptxas" -arch="$arch" -v "$f" -o /dev/null || status=1
		done
	done
	return $status
}

main_job() {
	set -o pipefail
	local dev=$1
	bin/optraj-cuda attribute -quiet -device "$dev" -out "$out/run-$dev" \
		-data data/mnist | tee "$out/run-$dev.txt"
}

torch_peer() {
	if ! python3 -c 'import torch, sys; sys.exit(not torch.cuda.is_available())'; then
		echo "PyTorch with CUDA not available: no cuBLAS peer"
		return 1
	fi
	python3 bench/peers/torch_gemm.py --device cuda
}

# The steps below run under timeout in a new bash, which needs these.
export out
export -f find_ptxas check_ptx main_job torch_peer

step build 120 go build -tags cuda -o bin/optraj-cuda ./cmd/optraj
step devices 30 bin/optraj-cuda devices
step ptxas 60 check_ptx
step conformance 150 go test -tags cuda -count=1 -run 'TestCUDA$' -v ./device/
step data 60 scripts/fetch-mnist.sh data/mnist
step main-job-cuda 120 main_job cuda
step main-job-cpu 150 main_job cpu
step bench-gemm 90 go test -tags cuda -run XXX -bench CUDAGemm -benchtime 20x ./device/
step bench-cublas 60 torch_peer
step bench-train 120 go test -tags cuda -run XXX -bench 'TrainEpoch|FirstOrderHyDRA' \
	-benchtime 3x ./bench/ -args -device cuda -mnist "$PWD/data/mnist"
step bench-torch-train 120 python3 bench/peers/torch_mlp.py --device cuda \
	--epochs 3 --hydra data/mnist

echo "== detection, cuda vs cpu" | tee -a "$log"
for dev in cuda cpu; do
	grep -E '^(HyDRA|training loss|TracIn|random)' "$out/run-$dev.txt" 2>/dev/null |
		sed "s/^/$dev: /" | tee -a "$log"
done

if ((${#failed[@]})); then
	echo "failed: ${failed[*]}" | tee -a "$log"
	exit 1
fi
echo "all GPU checks passed; log in $log"
