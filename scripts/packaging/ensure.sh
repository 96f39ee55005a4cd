#!/usr/bin/env bash
# Makes sure systemd-analyze (package systemd) and /bin/kill (procps) are
# there for the packaging tests, which verify the systemd unit. Called by
# `make test`. As root on a Debian machine without them, installs them
# (nothing is started); otherwise it only says what is missing, and the
# test skips, or fails under CI=true.
set -euo pipefail
missing=()
command -v systemd-analyze >/dev/null || missing+=(systemd)
[ -x /bin/kill ] || missing+=(procps)
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "ensure-packaging: missing ${missing[*]}; the systemd unit test will skip (run as root, or apt-get install -y ${missing[*]})" >&2
	exit 0
fi
echo "ensure-packaging: installing ${missing[*]} for the packaging tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
	{ apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
command -v systemd-analyze >/dev/null
