#!/usr/bin/env bash
# Makes sure OpenSSH's sshd is installed for the tests that start a real
# sshd on 127.0.0.1 (actions/ssh). Called by `make test`. As root on a
# Debian machine without it, installs openssh-server (the service is not
# started: the tests run their own sshd on free ports). Otherwise it only
# says what is missing; the tests then skip, or fail under CI=true.
set -euo pipefail
sshd=/usr/sbin/sshd
if [ -x "$sshd" ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "ensure-sshd: $sshd is missing; the real-sshd tests will skip (run as root, or apt-get install -y openssh-server)" >&2
	exit 0
fi
echo "ensure-sshd: installing openssh-server for the SSH tests" >&2
# Keep the package from starting a system sshd on port 22.
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	made_policy=1
fi
trap 'if [ -n "$made_policy" ]; then rm -f "$policy"; fi' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends openssh-server >/dev/null ||
	{ apt-get update >/dev/null && apt-get install -y --no-install-recommends openssh-server >/dev/null; }
test -x "$sshd"
