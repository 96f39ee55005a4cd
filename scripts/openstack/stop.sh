#!/bin/bash
# Stops what scripts/openstack/setup.sh started, and only that: the pids it
# recorded in $STATE/run/, never processes found by name.
# Usage: bash scripts/openstack/stop.sh [--purge]
#   --purge also deletes the state directory and RabbitMQ's node data, so the
#   next setup.sh starts from empty databases (installed packages stay).
set -u

STATE=${INFRABOT_OS_STATE:-/var/tmp/infrabot-openstack}
T0=$(date +%s.%N)
cd "$STATE" 2>/dev/null || { echo "stop: no state dir $STATE, nothing to stop"; exit 0; }

# The OpenStack services first (they hold DB and AMQP connections).
# setsid'ed python services lead their own process group: TERM the group to
# take the forked workers too. uwsgi masters run with --die-on-term.
pids=()
for n in nova-compute nova-scheduler nova-conductor nova-api neutron-server glance-api placement keystone; do
  f=run/$n.pid
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  rm -f "$f"
  kill -0 "$pid" 2>/dev/null || continue
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  pids+=("$pid")
done
# trap 15: nova and neutron wait up to 60 s for a graceful shutdown that
# a test cloud does not need; 5 s for all of them together, then KILL.
for ((i = 0; i < 25; i++)); do
  left=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
  [ $left = 0 ] && break
  sleep 0.2
done
for p in "${pids[@]}"; do
  kill -KILL -- "-$p" 2>/dev/null
  kill -KILL "$p" 2>/dev/null
done

# trap 15: Debian's rabbitmq-server wrapper su's into a new session, so the
# group we started does not contain beam.smp; signal it through its own pid
# file (RabbitMQ shuts down cleanly on TERM).
if [ -f run/rabbitmq.pid ]; then
  beam=$(cat /var/lib/rabbitmq/mnesia/rabbit@localhost.pid 2>/dev/null)
  if [ -n "$beam" ] && kill -0 "$beam" 2>/dev/null; then
    kill -TERM "$beam"
    for ((i = 0; i < 100; i++)); do kill -0 "$beam" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$beam" 2>/dev/null
  fi
  w=$(cat run/rabbitmq.pid)
  kill -TERM -- "-$w" 2>/dev/null
  rm -f run/rabbitmq.pid
  # epmd daemonized itself when beam started; stop it through its own CLI
  # (an exited epmd may linger as a harmless zombie where PID 1 does not reap)
  ERL_EPMD_ADDRESS=127.0.0.1 timeout 10 epmd -kill >/dev/null 2>&1
fi

if [ -f run/mysqld.pid ]; then
  m=$(cat run/mysqld.pid)
  kill -TERM "$m" 2>/dev/null
  for ((i = 0; i < 150; i++)); do kill -0 "$m" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$m" 2>/dev/null
  rm -f run/mysqld.pid
fi

if [ "${1:-}" = "--purge" ]; then
  cd /
  rm -rf "$STATE"
  rm -rf /var/lib/rabbitmq/mnesia/rabbit@localhost*
fi
echo "[stop] stopped in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s"
