#!/usr/bin/env bash
# The queue at the demo's size: the views' counts (GET /api/v1/views), each view's first page
# (API and the HTML list), a page both ways, and the server's memory holding STREAMS (default
# 1,000) open event streams that all hear a new ticket. One client; prints one line per figure.
#
#   BIN=target/release/soporte bash bench/queue.sh sqlite:///tmp/b.db      # a loaded database
#   N=1000000 bash bench/queue.sh                                          # loads a SQLite demo
set -euo pipefail
set -f  # the paths hold "?"
cd "$(dirname "$0")/.."
PORT="${PORT:-5097}"; BASE="http://127.0.0.1:$PORT"; D="${D:-10s}"; STREAMS="${STREAMS:-1000}"
command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
if [ -z "${BIN:-}" ]; then cargo build --release -q; BIN="$PWD/target/release/soporte"; fi
WORK="$(mktemp -d)"; SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"' EXIT
DB="${1:-}"
if [ -z "$DB" ]; then
  DB="sqlite://$WORK/q.db"
  "$BIN" demo --tickets "${N:-1000000}" --database "$DB" | sed -n "1s/^/demo: /p"
fi
echo "machine: $(nproc) cores; $(uptime)"
RUST_LOG=warn "$BIN" serve --bind "127.0.0.1:$PORT" --database "$DB" >"$WORK/log" 2>&1 & SERVER=$!
for _ in $(seq 1 300); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
TOKEN="$("$BIN" token create --email patricia.vargas@miempresa.com --database "$DB")"
TECH="$("$BIN" token create --email lucia.ramos@miempresa.com --database "$DB")"
JAR="$WORK/jar"
CSRF="$(curl -s -c "$JAR" "$BASE/login" | sed -n 's/.*name="csrf_token" value="\([0-9a-f]*\)".*/\1/p' | head -n1)"
curl -s -b "$JAR" -c "$JAR" -o /dev/null --data-urlencode "email=patricia.vargas@miempresa.com" \
  --data-urlencode "password=soporte-demo-2026" --data-urlencode "csrf_token=$CSRF" "$BASE/login"
COOKIE="soporte_session=$(awk '$6 == "soporte_session" {print $7}' "$JAR")"
curl -s -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/views" | python3 -c 'import json,sys; print("views: " + ", ".join("%s %s" % (v["label"], v["count"]) for v in json.load(sys.stdin)["items"]))'
measure() {
  local label="$1"; shift
  wrk --latency -t1 -c1 -d"$D" "$@" >"$WORK/w" 2>&1
  awk -v l="$label" '/Requests\/sec/ {r=$2} /^ +50%/ {a=$2} /^ +99%/ {b=$2} /Non-2xx/ {x="  NON-2XX: " $4} END {printf "  %-46s %8.0f req/s p50 %-9s p99 %s%s\n", l, r, a, b, x}' "$WORK/w"
}
measure "GET /api/v1/views (dispatcher)" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/views"
measure "GET /api/v1/views (technician)" -H "Authorization: Bearer $TECH" "$BASE/api/v1/views"
for v in sin_asignar abiertas vencidas esperando cerradas; do
  measure "GET /api/v1/tickets?view=$v" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/tickets?view=$v"
done
measure "GET /api/v1/tickets?view=mias (technician)" -H "Authorization: Bearer $TECH" "$BASE/api/v1/tickets?view=mias"
measure "GET /api/v1/tickets?status=nuevo,devuelto" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/tickets?status=nuevo,devuelto"
measure "the list's home, Sin asignar (HTML)" -H "Cookie: $COOKIE" "$BASE/"
measure "Todas abiertas by priority (HTML)" -H "Cookie: $COOKIE" "$BASE/?view=abiertas&sort=prioridad"
# A page deep in the list, then back: the cursors both ways.
NEXT="$(curl -s -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/tickets?view=cerradas&limit=25" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"])')"
measure "Cerradas, the second page" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/tickets?view=cerradas&limit=25&cursor=$NEXT"
PREV="$(curl -s -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/tickets?view=cerradas&limit=25&cursor=$NEXT" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("prev_cursor") or "")')"
[ -n "$PREV" ] && measure "Cerradas, back to the first page" -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/tickets?view=cerradas&limit=25&cursor=$PREV"
rss() { awk '/VmRSS/ {print $2 / 1024 " MB"}' "/proc/$SERVER/status"; }
echo "server RSS before the streams: $(rss)"
coproc S { python3 bench/streams.py "$BASE" "$TOKEN" "$STREAMS"; }
while read -r line <&"${S[0]}"; do echo "$line"; [ "$line" = READY ] && break; done
sleep 2
echo "server RSS holding them: $(rss) (peak $(awk '/VmHWM/ {print $2 / 1024 " MB"}' "/proc/$SERVER/status"))"
echo >&"${S[1]}"
cat <&"${S[0]}"
