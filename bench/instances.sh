#!/usr/bin/env bash
# Several instances behind HAProxy (issue 17): 1, 2 and 3 soporte processes on ONE PostgreSQL
# database holding N demo tickets, behind Debian's haproxy (round-robin, health checks on
# /healthz, the configuration docs/operations.md shows). Everything goes through the
# balancer. Prints one line per figure: reads at 8 clients (the API list, the API dashboard
# with a token from `soporte token create`, the HTML list with a signed-in session), then
# intake (bench/intake.lua, with the intake token) at 8 and 32 clients; the machine's load
# average beside each configuration, and the instances' ticket writers' counters from
# /metrics (transactions, round trips, claimed and refused claims). Each round starts with
# an ANALYZE, as autovacuum would have run one after the previous round's intake. A benchmark, not a test. Results: docs/PERFORMANCE.md.
#
#   N=100000 bash bench/instances.sh
#   SKIP_DEMO=1 bash bench/instances.sh          # reuse the soporte_bench_instances database
#   INSTANCES="1 3" DURATION=20s bash bench/instances.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-100000}"
INSTANCES="${INSTANCES:-direct 1 2 3}"
DURATION="${DURATION:-10s}"
PORT="${PORT:-5190}"                      # haproxy; the instances listen on PORT+1, PORT+2, …
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
DB="${PG_BENCH:-postgres://postgres@127.0.0.1:5432/soporte_bench_instances}"
BASE="http://127.0.0.1:$PORT"
INTAKE_TOKEN="bench-intake-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DEMO_USER="patricia.vargas@miempresa.com"
DEMO_PASSWORD="soporte-demo-2026"

command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || { apt-get update -q && apt-get install -y -q haproxy; }
HAPROXY="$(command -v haproxy || echo /usr/sbin/haproxy)"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q
BIN="$PWD/target/release/soporte"
WORK="$(mktemp -d)"
PIDS=()
BALANCER=""
cleanup() {
  [ -n "$BALANCER" ] && kill "$BALANCER" 2>/dev/null
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); soporte $(git rev-parse --short HEAD); $("$HAPROXY" -v | head -n1 | cut -d' ' -f1-3)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -z "${SKIP_DEMO:-}" ]; then
  name="${DB##*/}"
  psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name"
  "$BIN" demo --tickets "$N" --database "$DB" | sed -n "1s/^/demo: /p"
fi
TOKEN="$("$BIN" token create --email "$DEMO_USER" --database "$DB")"

start_instances() {   # $1 = how many
  PIDS=()
  for i in $(seq 1 "$1"); do
    SOPORTE_TRUSTED_PROXIES=127.0.0.1 SOPORTE_INTAKE_TOKEN="$INTAKE_TOKEN" RUST_LOG=warn \
      "$BIN" serve --bind "127.0.0.1:$((PORT + i))" --database "$DB" >"$WORK/instance$i.log" 2>&1 &
    PIDS+=($!)
  done
  for i in $(seq 1 "$1"); do
    for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$((PORT + i))/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    curl -fs "http://127.0.0.1:$((PORT + i))/healthz" >/dev/null || { echo "instance $i did not start" >&2; cat "$WORK/instance$i.log" >&2; exit 1; }
  done
}
stop_instances() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

start_balancer() {   # $1 = how many instances
  {
    cat <<CFG
global
    maxconn 4000
defaults
    mode http
    option forwardfor
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout http-request 10s
    timeout http-keep-alive 10s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
frontend soporte
    bind 127.0.0.1:$PORT
    default_backend instances
backend instances
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 2s fall 2 rise 2
CFG
    for i in $(seq 1 "$1"); do echo "    server s$i 127.0.0.1:$((PORT + i)) check"; done
  } >"$WORK/haproxy.cfg"
  "$HAPROXY" -c -q -f "$WORK/haproxy.cfg"
  "$HAPROXY" -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
  BALANCER=$!
  for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "haproxy did not start" >&2; cat "$WORK/haproxy.log" >&2; exit 1
}
stop_balancer() { kill "$BALANCER" 2>/dev/null || true; wait "$BALANCER" 2>/dev/null || true; BALANCER=""; }

# "label  requests/s  p50  p99  [errors]" from one wrk run.
measure() {
  local label="$1"; shift
  wrk --latency "$@" >"$WORK/wrk.txt" 2>&1 || { cat "$WORK/wrk.txt"; return 1; }
  awk -v label="$label" '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    /Non-2xx/ {bad=$4}
    /Socket errors/ {sock=$0}
    END {printf "  %-40s %9.0f req/s   p50 %-9s p99 %-9s%s%s\n", label, rps, p50, p99,
         (bad ? "  NON-2XX: " bad : ""), (sock ? "  " sock : "")}' "$WORK/wrk.txt"
}

tickets() { psql "${DB}" -tA -c "SELECT COUNT(*) FROM tickets"; }

for k in $INSTANCES; do
  echo
  # What autovacuum does on a production server: fresh statistics after the rounds before
  # added their intake tickets (this machine's PostgreSQL runs with autovacuum off, and the
  # plans of stale statistics read every open ticket for the dispatcher's queue).
  psql "$DB" -q -c "ANALYZE"
  if [ "$k" = direct ]; then
    start_instances 1
    BASE="http://127.0.0.1:$((PORT + 1))"
    label="1 instance, DIRECT (no balancer)"
  else
    BASE="http://127.0.0.1:$PORT"
    start_instances "$k"
    start_balancer "$k"
    label="$k instance(s) behind haproxy"
  fi
  # A browser session through the balancer's sign-in form, for the HTML list.
  JAR="$WORK/jar"; rm -f "$JAR"
  CSRF="$(curl -s -c "$JAR" "$BASE/login" | sed -n 's/.*name="csrf_token" value="\([0-9a-f]*\)".*/\1/p' | head -n1)"
  curl -s -b "$JAR" -c "$JAR" -o /dev/null --data-urlencode "email=$DEMO_USER" \
    --data-urlencode "password=$DEMO_PASSWORD" --data-urlencode "csrf_token=$CSRF" "$BASE/login"
  COOKIE="soporte_session=$(awk '$6 == "soporte_session" {print $7}' "$JAR")"
  echo "== $label, $(tickets) tickets; load average $(cut -d' ' -f1-3 /proc/loadavg) =="
  measure "GET /api/v1/tickets, 8 clients" -t2 -c8 -d"$DURATION" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/tickets"
  measure "GET /api/v1/dashboard, 8 clients" -t2 -c8 -d"$DURATION" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/dashboard"
  measure "ticket list (HTML), 8 clients" -t2 -c8 -d"$DURATION" -H "Cookie: $COOKIE" "$BASE/"
  for c in 8 32; do
    measure "intake, $c clients" -t2 -c"$c" -d"$DURATION" -s bench/intake.lua \
      -H "Authorization: Bearer $INTAKE_TOKEN" "$BASE/intake/email"
  done
  # How each instance's ticket writer went: batches that claimed their ids in one round trip,
  # and those refused because another instance had taken ids since (written again asking).
  n=1; [ "$k" = direct ] || n="$k"
  claimed=0; refused=0; trips=0; txs=0
  for i in $(seq 1 "$n"); do
    m="$(curl -fs "http://127.0.0.1:$((PORT + i))/metrics" || true)"
    counter() { local v; v="$(echo "$m" | awk -v k="soporte_ticket_write_$1_total" '$1 == k {print $2}')"; echo "${v:-0}"; }
    claimed=$((claimed + $(counter claimed)))
    refused=$((refused + $(counter asked_again)))
    trips=$((trips + $(counter round_trips)))
    txs=$((txs + $(counter transactions)))
  done
  echo "  ticket writers: $txs transactions, $trips round trips; $claimed batches claimed their ids, $refused of them refused and written again"
  echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  stop_balancer
  stop_instances
done
