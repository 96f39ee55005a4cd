#!/bin/bash
# infrabot's real-OpenStack test lane: setup.sh, the Go tests tagged
# "openstack" against that cloud, stop.sh (also when a step fails).
# Exits with the tests' status. Run as root from the repository (make
# test-openstack). Env: INFRABOT_OS_STATE (see setup.sh), GOFLAGS as usual.
set -euo pipefail

# Packages with tests for the real cloud (build tag "openstack").
PACKAGES="./actions/openstack/... ./cmd/infrabot"
# Flags for go test; -v so the lane's log shows each case and its timings.
TESTFLAGS=${TESTFLAGS:--v}
# Only the real-cloud tests: everything else in these packages runs in
# `make test` already, against the simulator.
TESTRUN=${TESTRUN:-^TestReal}
# Benchmarks to run once each (their logs are the wall-time measurements);
# BENCH=none skips them.
BENCH=${BENCH:-ParallelProvision10}

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STATE=${INFRABOT_OS_STATE:-/var/tmp/infrabot-openstack}
export INFRABOT_OS_STATE=$STATE

since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
T0=$(date +%s.%N)
timings=()
report() {
  local rc=$?
  local t=$(date +%s.%N)
  bash "$HERE/stop.sh" || true
  timings+=("stop $(since "$t")s")
  echo "== openstack lane: ${timings[*]}; total $(since "$T0")s; exit $rc"
  exit $rc
}
trap report EXIT
trap 'exit 130' INT TERM

t=$(date +%s.%N)
bash "$HERE/setup.sh" </dev/null
timings+=("setup $(since "$t")s")

# shellcheck source=/dev/null
source "$STATE/test.env"
cd "$ROOT"
t=$(date +%s.%N)
rc=0
benchflags=()
[ "$BENCH" = none ] || benchflags=(-bench "$BENCH" -benchtime 1x)
# -p 1: the packages share one cloud (and the quota case changes its quota)
# shellcheck disable=SC2086
go test -race -count=1 -p 1 -tags openstack -run "$TESTRUN" "${benchflags[@]}" $TESTFLAGS $PACKAGES || rc=$?
timings+=("tests $(since "$t")s")
exit $rc
