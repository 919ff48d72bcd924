#!/usr/bin/env bash
# A local development cluster: one etcd and three sluice nodes on loopback,
# in the background, stopped by the PIDs this script recorded (never by name,
# so other etcd or node processes on the machine are left alone).
#
#   scripts/dev-cluster.sh start|stop|status
#
# State lives in $SLUICE_DEV_DIR (default: .dev-cluster in the repository):
# etcd/ and n1..n3/ data dirs, etcd.log and n1..n3.log, a PID file per
# process, and `token` (mode 0600): the admin token every node is started
# with (SLUICE_BOOTSTRAP_TOKEN). Clients send it as `Authorization: Bearer
# <token>`; the CLI reads it from SLUICE_TOKEN. It is taken from
# $SLUICE_BOOTSTRAP_TOKEN when set, else from that file, else generated.
# Nodes replicate over mutual TLS on their peer ports (7191-7193): the first
# start makes a CA (certs/ca.crt, its key in ca.key, 0600) and one certs dir
# per node (certs/n1..n3/) with `sluice cert`; later starts reuse them.
# Data survives stop/start; remove the directory to start afresh.
set -euo pipefail

# Resolve an override against the caller's directory before moving to the repository root.
if [[ -n "${SLUICE_DEV_DIR:-}" ]]; then
  DIR="$(realpath -m -- "$SLUICE_DEV_DIR")"
fi
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
DIR="${DIR:-$PWD/.dev-cluster}"

ETCD_BIN="${SLUICE_ETCD_BIN:-/usr/bin/etcd}"
NODE_BIN=node_modules/.bin/node
ETCD_URL=http://127.0.0.1:2379
NODES=(1 2 3)
STOP_WAIT_S=10
TOKEN_MIN_CHARS=32
CLUSTER_ID=dev

# Data dir of a member ("etcd", "n1"...): it is also how a PID is recognised as ours.
data_dir() { echo "$DIR/$1"; }

# True when PID runs with DIR as one of its arguments, so a reused PID or a zombie never counts.
runs_with_arg() {
  local pid=$1 want=$2 arg
  [[ -r /proc/$pid/cmdline ]] || return 1
  while IFS= read -r -d '' arg; do
    [[ $arg == "$want" ]] && return 0
  done <"/proc/$pid/cmdline"
  return 1
}

# Prints the PID of member NAME if its PID file points to its live process.
live_pid() {
  local name=$1 pid
  [[ -f $DIR/$name.pid ]] || return 1
  pid=$(<"$DIR/$name.pid")
  [[ $pid =~ ^[0-9]+$ ]] && runs_with_arg "$pid" "$(data_dir "$name")" || return 1
  echo "$pid"
}

# Stops the members named in the arguments: SIGTERM, up to STOP_WAIT_S seconds, then SIGKILL.
stop_members() {
  local name pid entry pids=() deadline
  for name in "$@"; do
    if pid=$(live_pid "$name"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$name:$pid")
    fi
  done
  deadline=$((SECONDS + STOP_WAIT_S))
  for entry in "${pids[@]}"; do
    name=${entry%%:*}
    pid=${entry#*:}
    while runs_with_arg "$pid" "$(data_dir "$name")" && ((SECONDS < deadline)); do sleep 0.1; done
    if runs_with_arg "$pid" "$(data_dir "$name")"; then
      echo "$name (pid $pid) still running after ${STOP_WAIT_S} s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      while runs_with_arg "$pid" "$(data_dir "$name")"; do sleep 0.1; done
    fi
    echo "stopped $name (pid $pid)"
  done
  for name in "$@"; do rm -f -- "$DIR/$name.pid"; done
}

stop_all() {
  local nodes=() i
  for i in "${NODES[@]}"; do nodes+=("n$i"); done
  # Nodes first, so they can leave the cluster while etcd still answers.
  stop_members "${nodes[@]}"
  stop_members etcd
}

# File holding the admin token (mode 0600).
token_file() { echo "$DIR/token"; }

# Prints the admin token: $SLUICE_BOOTSTRAP_TOKEN, else the one a previous start saved, else a new
# random one (32 bytes, base64url); it is (re)written to the token file with mode 0600.
admin_token() {
  local token file
  file=$(token_file)
  if [[ -n "${SLUICE_BOOTSTRAP_TOKEN:-}" ]]; then
    token=$SLUICE_BOOTSTRAP_TOKEN
  elif [[ -s $file ]]; then
    token=$(<"$file")
  else
    token=$("$NODE_BIN" -e "console.log(require('crypto').randomBytes(32).toString('base64url'))")
  fi
  if ((${#token} < TOKEN_MIN_CHARS)) || [[ $token =~ [[:space:]] ]]; then
    echo "the admin token must be at least $TOKEN_MIN_CHARS characters without spaces (SLUICE_BOOTSTRAP_TOKEN or $file)" >&2
    return 1
  fi
  # Written to a new file created 0600, then renamed: the token is never readable by others.
  rm -f -- "$file.tmp"
  (umask 077 && printf '%s\n' "$token" >"$file.tmp")
  chmod 600 -- "$file.tmp"
  mv -f -- "$file.tmp" "$file"
  echo "$token"
}

# The CA and each node's certs dir (ca.crt, node.crt, node.key) for the peer listeners, made once with
# `sluice cert`; the CA key stays in $DIR/ca.key, outside every node's certs dir.
make_certs() {
  local certs=$DIR/certs ca_key=$DIR/ca.key i
  if [[ ! -f $certs/ca.crt ]]; then
    "$NODE_BIN" bin/sluice.js cert create-ca --certs-dir "$certs" --ca-key "$ca_key" --cluster-id "$CLUSTER_ID" >/dev/null
  fi
  for i in "${NODES[@]}"; do
    [[ -f $certs/n$i/node.crt ]] && continue
    if [[ ! -f $ca_key ]]; then
      echo "no CA key at $ca_key to sign a certificate for n$i; remove $certs to start afresh" >&2
      return 1
    fi
    "$NODE_BIN" bin/sluice.js cert create-node "n$i" 127.0.0.1 localhost \
      --certs-dir "$certs/n$i" --ca-cert "$certs/ca.crt" --ca-key "$ca_key" >/dev/null
  done
}

# Waits until URL answers 2xx (and its body matches PATTERN) while member NAME is alive.
wait_for() {
  local name=$1 url=$2 pattern=$3 timeout_s=$4 deadline body pid
  pid=$(<"$DIR/$name.pid")
  deadline=$((SECONDS + timeout_s))
  while ((SECONDS < deadline)); do
    # kill -0, not live_pid: just after the fork the child may not have exec'd etcd or node yet.
    # It is this shell's own child, reaped as soon as it exits, so the PID cannot be stale.
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited during start; last lines of $DIR/$name.log:" >&2
      tail -n 20 -- "$DIR/$name.log" >&2 || true
      return 1
    fi
    if body=$(curl -sf --max-time 1 -- "$url" 2>/dev/null) && [[ $body =~ $pattern ]]; then return 0; fi
    sleep 0.2
  done
  echo "$name not healthy at $url within $timeout_s s; last lines of $DIR/$name.log:" >&2
  tail -n 20 -- "$DIR/$name.log" >&2 || true
  return 1
}

start() {
  local name pid i running=0
  mkdir -p -- "$DIR"
  for name in etcd "${NODES[@]/#/n}"; do
    if pid=$(live_pid "$name"); then
      echo "$name is already running (pid $pid, $DIR/$name.pid)" >&2
      running=1
    elif [[ -f $DIR/$name.pid ]]; then
      echo "removing stale $DIR/$name.pid"
      rm -f -- "$DIR/$name.pid"
    fi
  done
  if ((running)); then
    echo "refusing to start: run '$0 stop' first" >&2
    exit 1
  fi
  [[ -x $ETCD_BIN ]] || { echo "no etcd at $ETCD_BIN (apt-get install etcd-server, or set SLUICE_ETCD_BIN)" >&2; exit 1; }
  [[ -x $NODE_BIN ]] || { echo "no $NODE_BIN: run npm ci first" >&2; exit 1; }
  local token
  token=$(admin_token) || exit 1
  make_certs || exit 1

  # Whatever fails from here on, stop what this run started instead of leaving it behind.
  trap 'echo "start failed; stopping what was started" >&2; stop_all >&2' EXIT

  # Logs are appended across runs; a marker line tells this run's output from earlier ones.
  for name in etcd "${NODES[@]/#/n}"; do echo "=== dev-cluster start $(date -Is) ===" >>"$DIR/$name.log"; done
  nohup "$ETCD_BIN" \
    --name dev \
    --data-dir "$(data_dir etcd)" \
    --listen-client-urls "$ETCD_URL" \
    --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster dev=http://127.0.0.1:2380 \
    --logger zap --log-level warn \
    </dev/null >>"$DIR/etcd.log" 2>&1 &
  echo $! >"$DIR/etcd.pid"
  wait_for etcd "$ETCD_URL/health" '"health":"true"' 15

  for i in "${NODES[@]}"; do
    # The token goes in the environment, not on the command line (where ps would show it).
    SLUICE_BOOTSTRAP_TOKEN="$token" nohup "$NODE_BIN" bin/sluice.js serve \
      --node-id "n$i" \
      --etcd "$ETCD_URL" \
      --http "127.0.0.1:808$i" \
      --grpc "127.0.0.1:709$i" \
      --grpc-peer "127.0.0.1:719$i" \
      --certs-dir "$DIR/certs/n$i" \
      --data-dir "$(data_dir "n$i")" \
      </dev/null >>"$DIR/n$i.log" 2>&1 &
    echo $! >"$DIR/n$i.pid"
  done
  for i in "${NODES[@]}"; do wait_for "n$i" "http://127.0.0.1:808$i/healthz" . 60; done
  trap - EXIT
  # /healthz answers as soon as HTTP listens; /readyz once the node has joined (about a second
  # later). Not being ready is reported, not fatal: the processes are up and their logs say why.
  for i in "${NODES[@]}"; do
    if ! wait_for "n$i" "http://127.0.0.1:808$i/readyz" . 30 2>/dev/null; then
      echo "warning: n$i answers /healthz but not /readyz after 30 s; see $DIR/n$i.log" >&2
    fi
  done

  echo "etcd  $ETCD_URL  (pid $(<"$DIR/etcd.pid"), log $DIR/etcd.log)"
  for i in "${NODES[@]}"; do
    echo "n$i    http://127.0.0.1:808$i  grpc 127.0.0.1:709$i  peer 127.0.0.1:719$i (mTLS)  (pid $(<"$DIR/n$i.pid"), log $DIR/n$i.log)"
  done
  echo
  echo "admin token: $token"
  echo "(saved in $(token_file), mode 0600; every request but /healthz and /readyz needs it), e.g.:"
  echo "  TOKEN=\$(cat $(token_file))"
  echo "  curl -H \"Authorization: Bearer \$TOKEN\" http://127.0.0.1:8081/v1/cluster"
  echo "  SLUICE_TOKEN=\$TOKEN node bin/sluice.js cluster status --url http://127.0.0.1:8081"
}

status() {
  local name pid all=0
  for name in etcd "${NODES[@]/#/n}"; do
    if pid=$(live_pid "$name"); then
      echo "$name alive (pid $pid)"
    elif [[ -f $DIR/$name.pid ]]; then
      echo "$name dead (pid file says $(<"$DIR/$name.pid"))"
      all=3
    else
      echo "$name dead (no pid file)"
      all=3
    fi
  done
  if curl -sf --max-time 2 http://127.0.0.1:8081/healthz >/dev/null 2>&1; then
    echo
    echo "GET http://127.0.0.1:8081/v1/cluster:"
    if [[ -r $(token_file) ]]; then
      # The header from a file (-H @file), so the token is not on curl's command line.
      printf 'Authorization: Bearer %s\n' "$(<"$(token_file)")" | curl -s --max-time 5 -H @- http://127.0.0.1:8081/v1/cluster || true
    else
      echo "(no $(token_file): the request is sent without a token)"
      curl -s --max-time 5 http://127.0.0.1:8081/v1/cluster || true
    fi
    echo
  fi
  # 3 when anything is down, as LSB init scripts report "not running".
  return "$all"
}

case "${1:-}" in
  start) start ;;
  stop) stop_all ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status   (state in \$SLUICE_DEV_DIR, default .dev-cluster)" >&2
    exit 2
    ;;
esac
