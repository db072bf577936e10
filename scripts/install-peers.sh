#!/usr/bin/env bash
# install-peers.sh installs the programs that the benchmark suite in bench/
# runs side by side with optraj: today, PyTorch 1.13 from Debian
# (python3-torch), for the system Python /usr/bin/python3.
#
# Usage: scripts/install-peers.sh
#
# The peers always run under /usr/bin/python3, never the first python3 on
# PATH (a pyenv or virtualenv Python would not see Debian's packages). When
# that Python already imports torch the script does nothing, so a second run
# is free. Installing needs root, or sudo without a password.
set -euo pipefail

readonly python=/usr/bin/python3
readonly packages=(python3-torch)

die() {
	echo "install-peers: $*" >&2
	exit 1
}

# have_torch reports whether the system Python imports torch.
have_torch() {
	[[ -x "$python" ]] && "$python" -c 'import torch' >/dev/null 2>&1
}

# as_root runs a command as root, through sudo when needed.
as_root() {
	if [[ "$(id -u)" == 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		die "need root (or passwordless sudo) to run: $*"
	fi
}

main() {
	if have_torch; then
		echo "install-peers: torch $("$python" -c \
			'import torch; print(torch.__version__)') already installed"
		return
	fi
	command -v apt-get >/dev/null || die "apt-get not found; install " \
		"PyTorch for $python by hand"

	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${packages[@]}"

	have_torch || die "$python still cannot import torch after installing " \
		"${packages[*]}"
	echo "install-peers: installed torch $("$python" -c \
		'import torch; print(torch.__version__)')"
}

main "$@"
