#!/bin/sh
# check.sh regenerates the PTX into a temporary folder and compares it with
# the committed kernels/*.ptx. It exits 1 when a file differs, is missing or
# is left over without its source, and 2 when the PTX cannot be generated
# (clang-19 missing). CI runs it; after changing a .cu file, run gen.sh and
# commit the PTX.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$here/gen.sh" "$tmp" || exit 2

status=0
for f in "$tmp"/*.ptx; do
	name=$(basename "$f")
	if [ ! -f "$here/$name" ]; then
		echo "check.sh: kernels/$name is missing; run kernels/gen.sh" >&2
		status=1
	elif ! diff -u "$here/$name" "$f" >&2; then
		echo "check.sh: kernels/$name is stale; run kernels/gen.sh" >&2
		status=1
	fi
done
for f in "$here"/*.ptx; do
	[ -e "$f" ] || continue
	name=$(basename "$f")
	if [ ! -f "$tmp/$name" ]; then
		echo "check.sh: kernels/$name has no source; remove it" >&2
		status=1
	fi
done
exit $status
