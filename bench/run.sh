#!/usr/bin/env bash
# How soporte's figures grow with the database. For each backend (BACKENDS, default SQLite then
# PostgreSQL) and each size (SIZES, default 100,000, 1,000,000 and 10,000,000 demo tickets) it
# loads a fresh database with `soporte demo --tickets N` and prints:
#   - the demo's wall time and tickets/s, and the database's size on disk (SQLite: the file and
#     its -wal; PostgreSQL: pg_database_size); on PostgreSQL then a timed VACUUM (ANALYZE), the
#     work autovacuum would do before anyone reads (the machines here run it switched off);
#   - with ONE client (the time a user waits), req/s, p50 and p99 of: the ticket list's first
#     page (HTML), GET /api/v1/tickets, the views' counts (GET /api/v1/views, the queue's
#     counts of issue 15), a search for a common word (COMMON, default impresora: ~1 ticket in
#     20) and for a rare one (RARE, default quispe42: a requester address's word, ~1 ticket in
#     1,440; the script counts its matches), each as the HTML list and through the API, the
#     dashboard of the last 30 days (HTML and API), and the list by due and filtered to
#     overdue / due-soon tickets (SLA);
#   - with EIGHT clients, the dashboard and the common-word search (HTML and API), and the
#     server's peak resident memory meanwhile (VmRSS sampled every 0.2 s);
#   - the CSV export of every closed ticket on a freshly started server (rows/s, peak VmHWM);
#     on PostgreSQL also the export's statement copied by psql to /dev/null (its ceiling);
#   - intake (bench/intake.lua) at 1, 8 and 32 clients, then 32 clients for INTAKE_LONG
#     (default 60s) with p99.9, the server's peak memory during intake, and a check that the
#     tickets grew by at least every answer wrk counted as 2xx; then the common and the rare
#     search again, on the index the intake left;
# then one growth table per backend: a row per figure, a column per size and the last size's
# value over the first's (p99 in ms for the reads, req/s for intake, rows/s for the export,
# MB for disk and memory, tickets/s for the demo; "!" marks a figure with non-2xx answers).
# Load comes from wrk on 127.0.0.1, each run bounded by DURATION (default 10s; a request is
# given WRK_TIMEOUT, default 30s, before wrk counts it as a timeout instead of a latency).
# Results: docs/PERFORMANCE.md.
#
#   bash bench/run.sh                                      # both backends, the three sizes
#   SIZES="100000 1000000" BACKENDS=sqlite bash bench/run.sh
#   N=100000 bash bench/run.sh                             # one size (as before SIZES)
#   OUT=/tmp/growth bash bench/run.sh                      # keep the result files, key<TAB>value
#   SKIP_DEMO=1 BACKENDS=postgres SIZES=1000000 bash bench/run.sh  # reuse soporte_bench as is
#   BIN=/tmp/soporte-old bash bench/run.sh                 # a binary built elsewhere (no build)
#   PARTS=intake SKIP_DEMO=1 BACKENDS=postgres SIZES=1000000 bash bench/run.sh  # intake only
#   SIZES="20000 50000" DURATION=2s INTAKE_LONG=5s bash bench/run.sh   # a quick check
# The SQLite database lives in a directory under TMPDIR (~1.6 kB a ticket at 50,000: plan on
# ~16 GB free at 10,000,000) and is deleted once its size is done; PostgreSQL's soporte_bench
# (~3 kB a ticket) is dropped and created per size and kept after the run: drop it before
# `cargo test` (the read-replica test copies the whole cluster with pg_basebackup, and a
# ten-million soporte_bench filled this machine's disk). PARTS (default
# "reads export intake") runs only the parts it names (the load always runs, SKIP_DEMO aside).
# Result files:
# $OUT/<backend>-<size>.txt (in the work directory, deleted, unless OUT is set).
set -euo pipefail
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && OUT="$(cd "$OUT" && pwd)"; fi
cd "$(dirname "$0")/.."
SIZES="${SIZES:-${N:-100000 1000000 10000000}}"
BACKENDS="${BACKENDS:-sqlite postgres}"
PORT="${PORT:-5099}"
DURATION="${DURATION:-10s}"
INTAKE_LONG="${INTAKE_LONG:-60s}"
PARTS="${PARTS:-reads export intake}"
part() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
WRK_TIMEOUT="${WRK_TIMEOUT:-30s}"
COMMON="${COMMON:-impresora}"
RARE="${RARE:-quispe42}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
PG_BENCH="${PG_BENCH:-postgres://postgres@127.0.0.1:5432/soporte_bench}"
BASE="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
if [ -z "${BIN:-}" ]; then
  cargo build --release -q
  BIN="$PWD/target/release/soporte"
fi
WORK="$(mktemp -d)"
RESULTS="${OUT:-$WORK/results}"
mkdir -p "$RESULTS"
SERVER=""
SAMPLER=""
cleanup() {
  if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2>/dev/null || true; fi
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

commas() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); soporte $(git rev-parse --short HEAD)"
echo "sizes: $SIZES; backends: $BACKENDS; $DURATION per wrk run, intake's long run $INTAKE_LONG;$(uptime | sed 's/.*\(load average\)/ \1/')"

start_server() {
  RUST_LOG=warn "$BIN" serve --bind "127.0.0.1:$PORT" --database "$DB" >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop_server() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=""; }

# The server's resident memory while a phase runs: a background loop keeps the highest VmRSS
# seen every 0.2 s; rss_peak stops it and prints that peak in kB.
rss_watch() {
  local pid="$SERVER" out="$WORK/rss.max"
  echo 0 >"$out"
  (
    max=0
    while kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [ -n "$kb" ]; do
      if [ "$kb" -gt "$max" ]; then max=$kb; echo "$max" >"$out"; fi
      sleep 0.2
    done
  ) &
  SAMPLER=$!
}
rss_peak() { kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=""; cat "$WORK/rss.max"; }

# record KEY VALUE: one figure of this backend and size, for the growth table.
record() { printf '%s\t%s\n' "$1" "$2" >>"$RES"; }

# measure LABEL wrk-args...: one wrk run. Prints "label  req/s  p50  p99 [p99.9]" and leaves
# "req/s p50 p99 p99.9 answers non-2xx" (latencies in ms, "-" when there is none) in
# $WORK/last, read into RPS P50 P99 P999 ANSWERS BAD.
measure() {
  local label="$1"; shift
  wrk --latency --timeout "$WRK_TIMEOUT" "$@" >"$WORK/wrk.txt" 2>&1 || { cat "$WORK/wrk.txt" >&2; return 1; }
  awk -v label="$label" -v last="$WORK/last" '
    function ms(s) {
      if (s ~ /us$/) return s / 1000; if (s ~ /ms$/) return s + 0
      if (s ~ /s$/) return s * 1000; if (s ~ /m$/) return s * 60000; return s + 0 }
    function f(x) {
      if (x == "") return "-"
      return x < 1 ? sprintf("%.3f", x) : x < 10 ? sprintf("%.2f", x) : x < 100 ? sprintf("%.1f", x) : sprintf("%.0f", x) }
    / requests in / {n = $1}
    /Requests\/sec/ {rps = $2}
    /^ +50%/ {p50 = ms($2)} /^ +99%/ {p99 = ms($2)}
    /^p99\.9_us / {p999 = $2 / 1000}
    /Non-2xx/ {bad = $NF}
    /Socket errors/ {err = $0; sub(/^ +/, "", err)}
    END {
      line = sprintf("  %-52s %9.0f req/s   p50 %-9s p99 %-9s%s%s%s", label, rps, f(p50) " ms", f(p99) " ms",
        (p999 != "" ? " p99.9 " f(p999) " ms" : ""), (bad ? "  NON-2XX: " bad : ""), (err ? "  " err : ""))
      sub(/ +$/, "", line); print line
      printf "%.0f %s %s %s %d %d\n", rps, f(p50), f(p99), f(p999), n, bad > last
    }' "$WORK/wrk.txt"
  read -r RPS P50 P99 P999 ANSWERS BAD <"$WORK/last"
}

# read LABEL wrk-args...: a read whose figure is its p99.
read_p99() {
  local label="$1"
  measure "$@"
  local mark=""; [ "$BAD" -eq 0 ] || mark="!"
  record "$label, p99 ms" "$P99$mark"
}

# How many tickets the API's search finds for a word, following its cursors (at most 1,000
# pages of 100).
matches() {
  local n=0 cursor="" page
  for _ in $(seq 1 1000); do
    page="$(curl -sfG -H "Authorization: Bearer $TOKEN" --data-urlencode "q=$1" --data-urlencode "limit=100" \
      ${cursor:+--data-urlencode "cursor=$cursor"} "$BASE/api/v1/tickets")"
    n=$((n + $(jq '.items | length' <<<"$page")))
    cursor="$(jq -r '.next_cursor // empty' <<<"$page")"
    [ -n "$cursor" ] || break
  done
  echo "$n"
}

# Every ticket the dispatcher sees (the "Todas" view's count).
all_tickets() { curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/tickets?view=todas&limit=1" | jq -r '.total'; }

bytes_human() { awk -v b="$1" 'BEGIN { if (b >= 1e9) printf "%.2f GB", b / 1e9; else printf "%.0f MB", b / 1e6 }'; }

for backend in $BACKENDS; do
  for size in $SIZES; do
    RES="$RESULTS/$backend-$size.txt"
    : >"$RES"
    echo
    echo "== $backend, $(commas "$size") tickets =="
    DBFILE=""
    case "$backend" in
      sqlite) DBFILE="$WORK/bench.db"; rm -f "$DBFILE" "$DBFILE-wal" "$DBFILE-shm"; DB="sqlite://$DBFILE" ;;
      postgres)
        if [ -z "${SKIP_DEMO:-}" ]; then
          PGOPTIONS="-c client_min_messages=warning" psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS soporte_bench WITH (FORCE)" -c "CREATE DATABASE soporte_bench"
        fi
        DB="$PG_BENCH" ;;
      *) echo "unknown backend $backend" >&2; exit 1 ;;
    esac

    # The load, timed from outside: process start, migrations and the demo's own phases.
    if [ -z "${SKIP_DEMO:-}" ] || [ "$backend" = sqlite ]; then
      start=$(date +%s.%N)
      "$BIN" demo --tickets "$size" --database "$DB" >"$WORK/demo.txt"
      end=$(date +%s.%N)
      sed -n "1s/^/  demo says: /p" "$WORK/demo.txt"
      awk -v n="$size" -v s="$start" -v e="$end" 'BEGIN {
        printf "  %-52s %.1f s = %.0f tickets/s\n", "demo load (wall time)", e - s, n / (e - s) }'
      record "demo load, tickets/s" "$(awk -v n="$size" -v s="$start" -v e="$end" 'BEGIN {printf "%.0f", n / (e - s)}')"
      record "demo load, s" "$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f", e - s}')"
    fi
    # PostgreSQL: what autovacuum would do on a production server before anyone reads (the
    # machines here run PostgreSQL with autovacuum off): fresh statistics and a visibility
    # map, after the load and after any earlier run's intake. Timed apart from the load.
    if [ "$backend" = postgres ]; then
      start=$(date +%s.%N)
      psql "$DB" -q -c "VACUUM (ANALYZE)"
      end=$(date +%s.%N)
      awk -v s="$start" -v e="$end" 'BEGIN { printf "  %-52s %.1f s\n", "VACUUM (ANALYZE), as autovacuum would", e - s }'
    fi
    case "$backend" in
      sqlite)
        bytes=0
        for f in "$DBFILE" "$DBFILE-wal"; do
          if [ -f "$f" ]; then bytes=$((bytes + $(stat -c %s "$f"))); fi
        done ;;
      postgres) bytes="$(psql "$PG_ADMIN" -tAc "SELECT pg_database_size('soporte_bench')")" ;;
    esac
    printf "  %-52s %s\n" "database on disk" "$(bytes_human "$bytes")"
    record "database on disk, MB" "$(awk -v b="$bytes" 'BEGIN {printf "%.0f", b / 1e6}')"

    TOKEN="$("$BIN" token create --email patricia.vargas@miempresa.com --database "$DB")"
    API=(-H "Authorization: Bearer $TOKEN")
    HTML=()
    if part reads; then
    start_server
    # A browser session for the HTML pages, through the real sign-in form.
    JAR="$WORK/jar"; rm -f "$JAR"
    CSRF="$(curl -s -c "$JAR" "$BASE/login" | sed -n 's/.*name="csrf_token" value="\([0-9a-f]*\)".*/\1/p' | head -n1)"
    curl -s -b "$JAR" -c "$JAR" -o /dev/null --data-urlencode "email=patricia.vargas@miempresa.com" \
      --data-urlencode "password=soporte-demo-2026" --data-urlencode "csrf_token=$CSRF" "$BASE/login"
    COOKIE="soporte_session=$(awk '$6 == "soporte_session" {print $7}' "$JAR")"
    HTML=(-H "Cookie: $COOKIE")
    API=(-H "Authorization: Bearer $TOKEN")
    rare="$(matches "$RARE")"
    printf "  %-52s %s\n" "search words" "common '$COMMON'; rare '$RARE', $(commas "$rare") tickets match"
    record "rare word '$RARE', tickets matching" "$rare"

    # Reads first, at the demo's size (intake adds tickets), one client: the time a user waits.
    one=(-t1 -c1 -d"$DURATION")
    read_p99 "ticket list, first page (HTML), 1 client" "${one[@]}" "${HTML[@]}" "$BASE/"
    read_p99 "GET /api/v1/tickets, 1 client" "${one[@]}" "${API[@]}" "$BASE/api/v1/tickets"
    read_p99 "views' counts, GET /api/v1/views, 1 client" "${one[@]}" "${API[@]}" "$BASE/api/v1/views"
    read_p99 "search common q=$COMMON (HTML), 1 client" "${one[@]}" "${HTML[@]}" "$BASE/?q=$COMMON"
    read_p99 "search common, API ?q=$COMMON, 1 client" "${one[@]}" "${API[@]}" "$BASE/api/v1/tickets?q=$COMMON"
    read_p99 "search rare q=$RARE (HTML), 1 client" "${one[@]}" "${HTML[@]}" "$BASE/?q=$RARE"
    read_p99 "search rare, API ?q=$RARE, 1 client" "${one[@]}" "${API[@]}" "$BASE/api/v1/tickets?q=$RARE"
    read_p99 "dashboard, last 30 days (HTML), 1 client" "${one[@]}" "${HTML[@]}" "$BASE/dashboard"
    read_p99 "GET /api/v1/dashboard, 1 client" "${one[@]}" "${API[@]}" "$BASE/api/v1/dashboard"
    read_p99 "ticket list by due (HTML), 1 client" "${one[@]}" "${HTML[@]}" "$BASE/?sort=due"
    read_p99 "API ?sort=due, 1 client" "${one[@]}" "${API[@]}" "$BASE/api/v1/tickets?sort=due"
    read_p99 "API ?sla=vencidas, 1 client" "${one[@]}" "${API[@]}" "$BASE/api/v1/tickets?sla=vencidas"
    read_p99 "API ?sla=por_vencer&sort=due, 1 client" "${one[@]}" "${API[@]}" "$BASE/api/v1/tickets?sla=por_vencer&sort=due"

    # Eight clients: throughput (on two cores shared with wrk, mostly queueing) and memory.
    eight=(-t2 -c8 -d"$DURATION")
    rss_watch
    read_p99 "dashboard (HTML), 8 clients" "${eight[@]}" "${HTML[@]}" "$BASE/dashboard"
    read_p99 "GET /api/v1/dashboard, 8 clients" "${eight[@]}" "${API[@]}" "$BASE/api/v1/dashboard"
    read_p99 "search common q=$COMMON (HTML), 8 clients" "${eight[@]}" "${HTML[@]}" "$BASE/?q=$COMMON"
    read_p99 "search common, API ?q=$COMMON, 8 clients" "${eight[@]}" "${API[@]}" "$BASE/api/v1/tickets?q=$COMMON"
    peak="$(rss_peak)"
    printf "  %-52s %d MB\n" "server RSS under load (8-client reads): peak" $((peak / 1024))
    record "server RSS, 8-client reads, peak MB" $((peak / 1024))
    stop_server
    fi

    # The export on a freshly started server, so its peak memory is the export's.
    if part export; then
    start_server
    before=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status")
    start=$(date +%s.%N)
    curl -sf "${API[@]}" "$BASE/export/closed.csv" | wc -lc >"$WORK/export.count"
    end=$(date +%s.%N)
    peak=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER/status")
    read -r lines bytes <"$WORK/export.count"
    rows=$((lines - 1))
    awk -v rows="$rows" -v s="$start" -v e="$end" -v before="$before" -v peak="$peak" -v bytes="$bytes" 'BEGIN {
      printf "  %-52s %d rows in %.2f s = %.0f rows/s, %.0f MB; server RSS %d MB before, peak %d MB\n",
        "CSV export of every closed ticket", rows, e - s, rows / (e - s), bytes / 1e6, before / 1024, peak / 1024 }'
    record "CSV export, rows/s" "$(awk -v rows="$rows" -v s="$start" -v e="$end" 'BEGIN {printf "%.0f", rows / (e - s)}')"
    record "CSV export, server peak (VmHWM) MB" $((peak / 1024))
    stop_server
    # PostgreSQL: the export's own statement (as src/storage/reports.rs sends it) copied
    # straight to /dev/null by psql, without the server: how fast PostgreSQL alone hands
    # the rows out, the ceiling of the server's export on this machine.
    if [ "$backend" = postgres ]; then
      start=$(date +%s.%N)
      psql "$DB" -q -c "COPY (SELECT t.id, t.requester, t.subject, t.assignee_id, t.created_at,
          t.first_assigned_at, t.first_response_at, t.closed_at, t.closed_by, t.resolution,
          t.rating, t.rating_comment, t.priority, t.category_id, t.assignment_due_at,
          t.assignment_secs, t.response_due_at, t.response_secs, t.resolution_due_at,
          t.resolution_secs FROM tickets t WHERE t.status = 'cerrado' ORDER BY t.id) TO STDOUT" >/dev/null
      end=$(date +%s.%N)
      awk -v rows="$rows" -v s="$start" -v e="$end" 'BEGIN {
        printf "  %-52s %.2f s = %.0f rows/s\n", "the same rows, psql COPY to /dev/null", e - s, rows / (e - s) }'
      record "export's COPY alone (psql), rows/s" "$(awk -v rows="$rows" -v s="$start" -v e="$end" 'BEGIN {printf "%.0f", rows / (e - s)}')"
    fi
    fi

    # Intake last: it adds tickets. Every answer wrk counted as 2xx must be a new ticket.
    if part intake; then
    start_server
    tickets_before="$(all_tickets)"
    answered=0; not_ok=0
    rss_watch
    for c in 1 8 32; do
      t=$(( c < 2 ? 1 : 2 ))
      measure "intake, $c client(s)" -t"$t" -c"$c" -d"$DURATION" -s bench/intake.lua "$BASE/intake/email"
      answered=$((answered + ANSWERS)); not_ok=$((not_ok + BAD))
      mark=""; [ "$BAD" -eq 0 ] || mark="!"
      record "intake, $c client(s), req/s" "$RPS$mark"
    done
    measure "intake, 32 clients for $INTAKE_LONG" -t2 -c32 -d"$INTAKE_LONG" -s bench/intake.lua "$BASE/intake/email"
    answered=$((answered + ANSWERS)); not_ok=$((not_ok + BAD))
    mark=""; [ "$BAD" -eq 0 ] || mark="!"
    record "intake, 32 clients for $INTAKE_LONG, req/s" "$RPS$mark"
    record "intake, 32 clients for $INTAKE_LONG, p99 ms" "$P99$mark"
    record "intake, 32 clients for $INTAKE_LONG, p99.9 ms" "$P999$mark"
    peak="$(rss_peak)"
    printf "  %-52s %d MB\n" "server RSS under load (intake): peak" $((peak / 1024))
    record "server RSS, intake, peak MB" $((peak / 1024))
    grew=$(( $(all_tickets) - tickets_before ))
    verdict="ok"
    if [ "$not_ok" -gt 0 ] || [ "$grew" -lt "$answered" ]; then verdict="MISSING TICKETS OR NON-2XX ANSWERS"; fi
    printf "  %-52s %s\n" "intake check" "$(commas "$answered") answers, $not_ok not 2xx; tickets grew by $(commas "$grew"): $verdict"
    # Searches right after the intake, on the index it left (SQLite: with the segments its
    # commits made and the background merges not yet done with them).
    one=(-t1 -c1 -d"$DURATION")
    read_p99 "search common, API ?q=$COMMON, after intake, 1 client" "${one[@]}" "${API[@]}" "$BASE/api/v1/tickets?q=$COMMON"
    read_p99 "search rare, API ?q=$RARE, after intake, 1 client" "${one[@]}" "${API[@]}" "$BASE/api/v1/tickets?q=$RARE"
    stop_server
    fi
    if [ -n "$DBFILE" ]; then rm -f "$DBFILE" "$DBFILE-wal" "$DBFILE-shm"; fi
  done
done

# One table per backend: the figures as rows, the sizes as columns, then last size / first.
for backend in $BACKENDS; do
  files=()
  for size in $SIZES; do files+=("$RESULTS/$backend-$size.txt"); done
  echo
  echo "== $backend: growth with the number of tickets (p99 ms for reads, req/s for intake) =="
  awk -F'\t' '
    function short(n) {
      if (n >= 1e6 && n % 1e6 == 0) return n / 1e6 "M"
      if (n >= 1e3 && n % 1e3 == 0) return n / 1e3 "k"
      return n }
    function commas(v,   s) {
      if (v !~ /^[0-9]+$/ || length(v) < 4) return v
      s = v; while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s)
      sub(/^,/, "", s); return s }
    BEGIN {
      for (i = 1; i < ARGC; i++) { size = ARGV[i]; sub(/.*-/, "", size); sub(/\.txt$/, "", size); head[i] = short(size) }
      cols = ARGC - 1 }
    FNR == 1 { for (i = 1; i < ARGC; i++) if (ARGV[i] == FILENAME) col = i }
    { if (!($1 in seen)) { seen[$1] = 1; order[++rows] = $1 }; v[$1, col] = $2 }
    END {
      w = 6; for (r = 1; r <= rows; r++) if (length(order[r]) > w) w = length(order[r])
      printf "%-" w "s", "figure"; for (c = 1; c <= cols; c++) printf "  %11s", head[c]
      printf "%s\n", (cols > 1 ? sprintf("  %9s", head[cols] "/" head[1]) : "")
      for (r = 1; r <= rows; r++) {
        k = order[r]; printf "%-" w "s", k
        for (c = 1; c <= cols; c++) printf "  %11s", ((k, c) in v ? commas(v[k, c]) : "-")
        a = v[k, 1]; b = v[k, cols]; sub(/!$/, "", a); sub(/!$/, "", b)
        if (cols > 1 && a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && a + 0 > 0) printf "  %8.2fx", b / a
        printf "\n"
      }
    }' "${files[@]}"
done
if [ -n "${OUT:-}" ]; then echo; echo "result files: $RESULTS/<backend>-<size>.txt"; fi
