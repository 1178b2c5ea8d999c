#!/usr/bin/env bash
# Benchmarks soporte with N demo tickets (default 1,000,000), on SQLite then PostgreSQL.
# Prints, per backend: demo load rate; intake requests/s and p50/p99 at 1, 8 and 32 clients;
# p50/p99 of the ticket list, a filtered search page and the dashboard (HTML, and the API), and
# the list by due and filtered to overdue / due-soon tickets (SLA);
# the CSV export of every closed ticket (rows/s) and the server's peak memory during it.
# Load comes from wrk on 127.0.0.1, each run bounded by DURATION. Results: docs/PERFORMANCE.md.
#
#   bash bench/run.sh                      # both backends, 1,000,000 tickets
#   N=100000 BACKENDS=sqlite bash bench/run.sh
#   SKIP_DEMO=1 BACKENDS=postgres bash bench/run.sh   # reuse the soporte_bench database
#   BIN=/tmp/soporte-old bash bench/run.sh           # a binary built elsewhere (no build)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000000}"
BACKENDS="${BACKENDS:-sqlite postgres}"
PORT="${PORT:-5099}"
DURATION="${DURATION:-10s}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
PG_BENCH="${PG_BENCH:-postgres://postgres@127.0.0.1:5432/soporte_bench}"
BASE="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
if [ -z "${BIN:-}" ]; then
  cargo build --release -q
  BIN="$PWD/target/release/soporte"
fi
WORK="$(mktemp -d)"
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"' EXIT

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); soporte $(git rev-parse --short HEAD)"

start_server() {
  RUST_LOG=warn "$BIN" serve --bind "127.0.0.1:$PORT" --database "$DB" >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop_server() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=""; }

# "label  requests/s  p50  p99" from one wrk run.
measure() {
  local label="$1"; shift
  wrk --latency "$@" >"$WORK/wrk.txt" 2>&1 || { cat "$WORK/wrk.txt"; return 1; }
  awk -v label="$label" '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    /Non-2xx/ {bad=$4}
    END {printf "  %-44s %10.0f req/s   p50 %-9s p99 %-9s%s\n", label, rps, p50, p99, (bad ? "  NON-2XX: " bad : "")}' "$WORK/wrk.txt"
}

for backend in $BACKENDS; do
  echo
  echo "== $backend, $N tickets =="
  case "$backend" in
    sqlite) DB="sqlite://$WORK/bench.db" ;;
    postgres)
      if [ -z "${SKIP_DEMO:-}" ]; then
        psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS soporte_bench WITH (FORCE)" -c "CREATE DATABASE soporte_bench"
      fi
      DB="$PG_BENCH" ;;
    *) echo "unknown backend $backend" >&2; exit 1 ;;
  esac
  if [ -z "${SKIP_DEMO:-}" ] || [ "$backend" = sqlite ]; then
    "$BIN" demo --tickets "$N" --database "$DB" | sed -n "1s/^/  demo: /p"
  fi
  start_server
  TOKEN="$("$BIN" token create --email patricia.vargas@miempresa.com --database "$DB")"
  # A browser session for the HTML pages, through the real sign-in form.
  JAR="$WORK/jar"; rm -f "$JAR"
  CSRF="$(curl -s -c "$JAR" "$BASE/login" | sed -n 's/.*name="csrf_token" value="\([0-9a-f]*\)".*/\1/p' | head -n1)"
  curl -s -b "$JAR" -c "$JAR" -o /dev/null --data-urlencode "email=patricia.vargas@miempresa.com" \
    --data-urlencode "password=soporte-demo-2026" --data-urlencode "csrf_token=$CSRF" "$BASE/login"
  COOKIE="soporte_session=$(awk '$6 == "soporte_session" {print $7}' "$JAR")"

  # Reads first, at the demo's size (intake would add tickets): latency with one client
  # (the time a user waits) and throughput with eight.
  for c in 1 8; do
    t=$(( c < 2 ? 1 : 2 ))
    measure "ticket list, first page (HTML), $c client(s)" -t"$t" -c"$c" -d"$DURATION" -H "Cookie: $COOKIE" "$BASE/"
    measure "search q=impresora&status=cerrado (HTML), $c" -t"$t" -c"$c" -d"$DURATION" -H "Cookie: $COOKIE" "$BASE/?q=impresora&status=cerrado"
    measure "dashboard, last 30 days (HTML), $c client(s)" -t"$t" -c"$c" -d"$DURATION" -H "Cookie: $COOKIE" "$BASE/dashboard"
    measure "GET /api/v1/tickets, $c client(s)" -t"$t" -c"$c" -d"$DURATION" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/tickets"
    measure "GET /api/v1/tickets?q=vpn, $c client(s)" -t"$t" -c"$c" -d"$DURATION" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/tickets?q=vpn"
    measure "GET /api/v1/dashboard, $c client(s)" -t"$t" -c"$c" -d"$DURATION" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/dashboard"
    measure "ticket list by due (HTML), $c client(s)" -t"$t" -c"$c" -d"$DURATION" -H "Cookie: $COOKIE" "$BASE/?sort=due"
    measure "GET /api/v1/tickets?sort=due, $c client(s)" -t"$t" -c"$c" -d"$DURATION" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/tickets?sort=due"
    measure "GET /api/v1/tickets?sla=vencidas, $c" -t"$t" -c"$c" -d"$DURATION" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/tickets?sla=vencidas"
    measure "GET /api/v1/tickets?sla=por_vencer&sort=due, $c" -t"$t" -c"$c" -d"$DURATION" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/tickets?sla=por_vencer&sort=due"
  done

  # The export on a freshly started server, so its peak memory is the export's.
  stop_server
  start_server
  before=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status")
  start=$(date +%s.%N)
  curl -s -H "Authorization: Bearer $TOKEN" -b "$JAR" -H "Cookie: $COOKIE" "$BASE/export/closed.csv" -o "$WORK/closed.csv"
  end=$(date +%s.%N)
  peak=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")
  rows=$(( $(wc -l <"$WORK/closed.csv") - 1 ))
  awk -v rows="$rows" -v s="$start" -v e="$end" -v before="$before" -v peak="$peak" -v bytes="$(stat -c %s "$WORK/closed.csv")" 'BEGIN {
    printf "  %-44s %10d rows in %.2f s = %.0f rows/s, %.0f MB; server RSS %d MB before, peak %d MB\n",
      "CSV export of every closed ticket", rows, e - s, rows / (e - s), bytes / 1e6, before / 1024, peak / 1024 }'
  stop_server
  # Intake last: it adds tickets.
  start_server
  for c in 1 8 32; do
    t=$(( c < 2 ? 1 : 2 ))
    measure "intake, $c client(s)" -t"$t" -c"$c" -d"$DURATION" -s bench/intake.lua "$BASE/intake/email"
  done
  stop_server
done
