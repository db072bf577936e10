#!/usr/bin/env bash
# run.sh runs optraj's MNIST benchmarks and their PyTorch peers on this
# machine, one after the other in one run, prints a table of ours against
# the peer's, and writes the numbers as JSON to bench/results/ (git-ignored),
# beside the raw `go test -bench` output. `make bench` calls it.
#
# Usage: bench/run.sh
#
# Environment:
#   EPOCHS    epochs timed on each side (default 5)
#   SCORINGS  HyDRA scorings timed on our side (default 3)
#   MNIST     folder with the MNIST files (default data/mnist)
#   PYTHON    the Python that runs the peer (default /usr/bin/python3)
#
# The benchmarks share the machine with whatever else runs on it; the load
# average before and after is written with the results, so that a slow
# number can be told from a busy machine. The peer needs PyTorch
# (scripts/install-peers.sh); without it the torch column reads n/a.
set -euo pipefail

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
readonly root
readonly epochs="${EPOCHS:-5}"
readonly scorings="${SCORINGS:-3}"
readonly python="${PYTHON:-/usr/bin/python3}"
mnist="$(realpath -m -- "${MNIST:-$root/data/mnist}")"
readonly mnist
readonly results="$root/bench/results"

work="$(mktemp -d)"
trap 'rm -rf -- "$work"' EXIT

die() {
	echo "bench: $*" >&2
	exit 1
}

# bench runs one benchmark of the compiled suite, appending its output
# to the raw log and echoing it.
bench() {
	local name=$1 benchtime=$2
	(cd "$root/bench" && "$work/bench.test" -test.run '^$' \
		-test.bench "^${name}\$" -test.benchtime "$benchtime" \
		-mnist "$mnist" -peer-python "$python" -peer-epochs "$epochs") |
		tee -a "$raw"
}

# metric prints the value that benchmark $1 reported in unit $2, or
# nothing when it did not report it (a skipped peer, say).
metric() {
	awk -v name="$1" -v unit="$2" '
		$1 ~ "^" name "(-[0-9]+)?$" {
			for (i = 3; i < NF; i += 2)
				if ($(i + 1) == unit) v = $i
		}
		END { if (v != "") print v }' "$raw"
}

# ratio prints $1/$2 with 2 decimals, or n/a when either is missing.
ratio() {
	if [[ -n "$1" && -n "$2" ]]; then
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
	else
		printf 'n/a'
	fi
}

# row prints one line of the table: a label, ours, the peer's, the ratio.
row() {
	printf '%-28s %10s %10s %10s\n' "$1" "${2:-n/a}" "${3:-n/a}" \
		"$(ratio "$2" "$3")"
}

# json prints a number, or null when it is missing.
json() { printf '%s' "${1:-null}"; }

# jratio prints $1/$2 for JSON, or null when either is missing.
jratio() {
	if [[ -n "$1" && -n "$2" ]]; then ratio "$1" "$2"; else printf null; fi
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

main() {
	[[ -d "$mnist" ]] || die "no MNIST in $mnist; run scripts/fetch-mnist.sh"
	mkdir -p -- "$results"
	stamp="$(date -u +%Y%m%dT%H%M%SZ)"
	raw="$results/$stamp.txt"
	(cd "$root" && go test -c -o "$work/bench.test" ./bench)

	load_before="$(loadavg)"
	echo "load average before: $load_before" | tee "$raw"
	bench BenchmarkTrainEpoch "${epochs}x"
	bench BenchmarkPeerTorch 1x
	bench BenchmarkFirstOrderHyDRA "${scorings}x"
	bench BenchmarkFirstOrderHyDRALogged "${scorings}x"
	bench BenchmarkPeerTorchHyDRA 1x
	load_after="$(loadavg)"
	echo "load average after: $load_after" | tee -a "$raw"

	report
}

# report prints the table and writes the JSON file.
report() {
	local ours torch ours_min torch_min ours_gf torch_gf
	local ours_acc torch_acc ours_sr torch_sr ours_sc torch_sc
	local ours_lsc ours_lsr ours_ltr
	ours="$(metric BenchmarkTrainEpoch s/epoch)"
	torch="$(metric BenchmarkPeerTorch s/epoch)"
	ours_min="$(metric BenchmarkTrainEpoch min-s/epoch)"
	torch_min="$(metric BenchmarkPeerTorch min-s/epoch)"
	ours_gf="$(metric BenchmarkTrainEpoch GFLOP/s)"
	torch_gf="$(metric BenchmarkPeerTorch GFLOP/s)"
	ours_acc="$(metric BenchmarkTrainEpoch test-acc)"
	torch_acc="$(metric BenchmarkPeerTorch test-acc)"
	ours_sc="$(metric BenchmarkFirstOrderHyDRA score-s)"
	torch_sc="$(metric BenchmarkPeerTorchHyDRA score-s)"
	ours_sr="$(metric BenchmarkFirstOrderHyDRA score/train)"
	ours_lsc="$(metric BenchmarkFirstOrderHyDRALogged score-s)"
	ours_lsr="$(metric BenchmarkFirstOrderHyDRALogged score/train)"
	ours_ltr="$(metric BenchmarkFirstOrderHyDRALogged train-s)"
	torch_sr="$(metric BenchmarkPeerTorchHyDRA score/train)"

	echo
	printf '%-28s %10s %10s %10s\n' '' optraj torch 'ours/torch'
	row 'train s/epoch (median)' "$ours" "$torch"
	row 'train s/epoch (min)' "$ours_min" "$torch_min"
	row 'train GFLOP/s (median)' "$ours_gf" "$torch_gf"
	row 'test accuracy, 1 epoch' "$ours_acc" "$torch_acc"
	row 'HyDRA scoring s' "$ours_sc" "$torch_sc"
	row 'HyDRA scoring / training' "$ours_sr" "$torch_sr"
	row 'HyDRA from step log s' "$ours_lsc" "$torch_sc"
	row 'from step log / training' "$ours_lsr" "$torch_sr"
	row 'training with step log s' "$ours_ltr" ""
	echo "load average before $load_before, after $load_after"

	local out="$results/$stamp.json"
	cat >"$out" <<EOF
{
  "time": "$stamp",
  "machine": {"cpu": "$(cpu)", "cores": $(nproc),
    "load_before": "$load_before", "load_after": "$load_after"},
  "go": "$(go version | cut -d' ' -f3)",
  "torch": "$(torch_version)",
  "epochs": $epochs,
  "optraj": {"epoch_s_median": $(json "$ours"), "epoch_s_min": $(json "$ours_min"),
    "gflops": $(json "$ours_gf"), "test_accuracy": $(json "$ours_acc"),
    "hydra_score_s": $(json "$ours_sc"), "hydra_score_over_train": $(json "$ours_sr"),
    "hydra_logged_score_s": $(json "$ours_lsc"),
    "hydra_logged_score_over_train": $(json "$ours_lsr"),
    "train_with_log_s": $(json "$ours_ltr")},
  "torch_peer": {"epoch_s_median": $(json "$torch"), "epoch_s_min": $(json "$torch_min"),
    "gflops": $(json "$torch_gf"), "test_accuracy": $(json "$torch_acc"),
    "hydra_score_s": $(json "$torch_sc"), "hydra_score_over_train": $(json "$torch_sr")},
  "epoch_ratio_ours_over_torch": $(jratio "$ours" "$torch")
}
EOF
	echo "results: $out"
}

cpu() { awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo; }

torch_version() {
	"$python" -c 'import torch; print(torch.__version__)' 2>/dev/null || true
}

main "$@"
