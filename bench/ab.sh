#!/usr/bin/env bash
# A/B on one machine: the same reads, export and intake on two release binaries, each on its own
# fresh SQLite database of N demo tickets (default 1,000,000), alternating ROUNDS times (default
# 2) so that other load on a shared machine falls on both alike. Prints one line per figure.
#
#   bash bench/ab.sh /tmp/soporte-before target/release/soporte
#   N=100000 ROUNDS=3 D=5s bash bench/ab.sh OLD NEW
#   PATHS="/api/v1/tickets?sort=due" bash bench/ab.sh OLD NEW   # other reads (both must know them)
set -uo pipefail
set -f  # the read paths hold "?"
cd "$(dirname "$0")/.."
OLD="$1"; NEW="$2"
PORT="${PORT:-5098}"; BASE="http://127.0.0.1:$PORT"; D="${D:-10s}"
command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
run() {
  local name="$1" bin="$2" work; work=$(mktemp -d)
  local db="sqlite://$work/b.db"
  "$bin" demo --tickets "${N:-1000000}" --database "$db" | sed -n "1s/^/$name demo: /p"
  RUST_LOG=warn "$bin" serve --bind "127.0.0.1:$PORT" --database "$db" >"$work/log" 2>&1 & local srv=$!
  for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  local tok; tok="$("$bin" token create --email patricia.vargas@miempresa.com --database "$db")"
  for path in ${PATHS:-/api/v1/dashboard /api/v1/tickets /api/v1/tickets?q=impresora&status=cerrado}; do
    wrk --latency -t1 -c1 -d"$D" -H "Authorization: Bearer $tok" "$BASE$path" > "$work/w" 2>&1
    awk -v n="$name" -v p="$path" '/Requests\/sec/ {r=$2} /^ +50%/ {a=$2} /^ +99%/ {b=$2} /Non-2xx/ {x="  NON-2XX: " $4} END {printf "%s %-42s %8.0f req/s p50 %-9s p99 %s%s\n", n, p, r, a, b, x}' "$work/w"
  done
  local s e; s=$(date +%s.%N); curl -s -H "Authorization: Bearer $tok" "$BASE/export/closed.csv" -o "$work/c.csv"; e=$(date +%s.%N)
  local rows=$(( $(wc -l <"$work/c.csv") - 1 ))
  awk -v n="$name" -v r="$rows" -v s="$s" -v e="$e" 'BEGIN {printf "%s export %d rows in %.2f s = %.0f rows/s\n", n, r, e-s, r/(e-s)}'
  wrk --latency -t2 -c32 -d"$D" -s bench/intake.lua "$BASE/intake/email" > "$work/w" 2>&1
  awk -v n="$name" '/Requests\/sec/ {r=$2} /^ +99%/ {b=$2} END {printf "%s intake 32 clients %8.0f req/s p99 %s\n", n, r, b}' "$work/w"
  kill "$srv"; wait "$srv" 2>/dev/null; rm -rf "$work"
}
echo "machine: $(nproc) cores; $(uptime)"
for _ in $(seq 1 "${ROUNDS:-2}"); do
  run old "$OLD"
  run new "$NEW"
done
echo "$(uptime)"
