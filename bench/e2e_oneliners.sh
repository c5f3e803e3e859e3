#!/usr/bin/env bash
# One-liner benchmark (issue 3): `spate top` and `spate stats` on a ~1 GB JSON-lines clickstream,
# beside miller and jq doing the same job:
#   spate top -f page FILE                    vs  mlr --ijson count-distinct -f page
#                                                 and jq -r .page | sort | uniq -c
#   spate stats -f latency_ms FILE            vs  mlr --ijson stats1 -a mean,p50,p99 -f latency_ms
# mlr and jq are 30-100x slower, so they run on a prefix of the file (the first PREFIX_N lines,
# default 1M) and are reported in events/s, as bench/e2e_pipeline.sh does with MLR_EVENTS; spate
# runs on the whole file and on the same prefix.
#
# Usage: bench/e2e_oneliners.sh [BYTES]          (default 1000000000, about 6.9M events)
# Needs: a built spate (SPATE=..., default build/release/tools/spate/spate), python3, miller
# (`mlr`) and jq (Debian packages miller, jq; scripts/bootstrap installs them), and BYTES of free
# disk (plus the prefix) under DATA_DIR. If DATA_DIR's file system has less than 5 GB free, the
# script uses a fifth of the free space instead of BYTES and says so.
# Environment: SPATE, DATA_DIR (default build/bench-data: never the source tree), PREFIX_N
# (default 1000000), REPS (timed runs of each spate command, median kept; default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES=${1:-1000000000}
SPATE=${SPATE:-build/release/tools/spate/spate}
DATA_DIR=${DATA_DIR:-build/bench-data}
PREFIX_N=${PREFIX_N:-1000000}
REPS=${REPS:-3}

missing=()
for tool in mlr jq python3; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "e2e_oneliners: missing ${missing[*]} (apt-get install miller jq python3, or scripts/bootstrap)" >&2
  exit 2
fi
[ -x "$SPATE" ] || { echo "e2e_oneliners: no spate binary at $SPATE (set SPATE=...)" >&2; exit 2; }

mkdir -p "$DATA_DIR"
free_kb=$(df -Pk "$DATA_DIR" | awk 'NR == 2 {print $4}')
if [ "$free_kb" -lt $((5 * 1000 * 1000)) ]; then
  BYTES=$((free_kb * 1000 / 5))
  echo "e2e_oneliners: only $((free_kb / 1000)) MB free under $DATA_DIR (< 5 GB): using $BYTES bytes" >&2
fi

# Events for BYTES: the generator's mean line length, from a 20k-event sample.
mean_len=$("$SPATE" gen clicks --count 20000 --seed 42 | wc -c | awk '{print $1 / 20000}')
N=$(python3 -c "print(int($BYTES / $mean_len))")
DATA=$DATA_DIR/clicks-$N.jsonl
PREFIX=$DATA_DIR/clicks-$N-head$PREFIX_N.jsonl
[ -s "$DATA" ] || "$SPATE" gen clicks --count "$N" --seed 42 > "$DATA"
[ -s "$PREFIX" ] || head -n "$PREFIX_N" "$DATA" > "$PREFIX"
PN=$(wc -l < "$PREFIX")
SIZE=$(stat -c %s "$DATA")
cat "$DATA" "$PREFIX" > /dev/null  # warm the page cache

echo "machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "input: $DATA, $N events, $SIZE bytes; prefix $PN events"

now() { date +%s.%N; }
# time_median REPS CMD...: median wall seconds of REPS runs of CMD (stdout to /dev/null).
time_median() {
  local reps=$1; shift
  local ts=()
  for ((i = 0; i < reps; ++i)); do
    local t0 t1
    t0=$(now); "$@" > /dev/null; t1=$(now)
    ts+=("$(python3 -c "print($t1 - $t0)")")
  done
  python3 -c "import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))" "${ts[@]}"
}
jq_top() { jq -r .page "$1" | sort | uniq -c | sort -rn; }

declare -A S  # seconds
S[top]=$(time_median "$REPS" "$SPATE" top -f page "$DATA")
S[stats]=$(time_median "$REPS" "$SPATE" stats -f latency_ms "$DATA")
S[top_prefix]=$(time_median "$REPS" "$SPATE" top -f page "$PREFIX")
S[stats_prefix]=$(time_median "$REPS" "$SPATE" stats -f latency_ms "$PREFIX")
S[mlr_top]=$(time_median 1 mlr --ijson --ojson count-distinct -f page "$PREFIX")
S[mlr_stats]=$(time_median 1 mlr --ijson --ojson stats1 -a mean,p50,p99 -f latency_ms "$PREFIX")
S[jq_top]=$(time_median 1 jq_top "$PREFIX")

# Sanity: spate's most frequent page on the prefix is jq's (exact) most frequent page.
spate_first=$("$SPATE" top -f page -k 1 -o csv "$PREFIX" | tail -n 1 | cut -d, -f1)
jq_first=$(jq_top "$PREFIX" | awk 'NR == 1 {print $2}')  # reads all: no SIGPIPE under pipefail
[ "$spate_first" = "$jq_first" ] || echo "WARNING: top page differs: spate '$spate_first', jq '$jq_first'" >&2

python3 - "$N" "$PN" "${S[top]}" "${S[stats]}" "${S[top_prefix]}" "${S[stats_prefix]}" \
  "${S[mlr_top]}" "${S[mlr_stats]}" "${S[jq_top]}" <<'PY'
import sys
n, pn = int(sys.argv[1]), int(sys.argv[2])
top, stats, top_p, stats_p, mlr_top, mlr_stats, jq_top = map(float, sys.argv[3:10])
rate = lambda events, s: events / s
rows = [
    ("spate top -f page (whole file)", n, top),
    ("spate stats -f latency_ms (whole file)", n, stats),
    ("spate top -f page (prefix)", pn, top_p),
    ("spate stats -f latency_ms (prefix)", pn, stats_p),
    ("mlr --ijson count-distinct -f page (prefix)", pn, mlr_top),
    ("mlr --ijson stats1 -a mean,p50,p99 -f latency_ms (prefix)", pn, mlr_stats),
    ("jq -r .page | sort | uniq -c (prefix)", pn, jq_top),
]
for name, events, s in rows:
    print(f"{name:60s} {rate(events, s):>14,.0f} events/s  ({s:.2f} s)")
print(f"top:   spate {rate(n, top) / rate(pn, mlr_top):.0f}x mlr, "
      f"{rate(n, top) / rate(pn, jq_top):.1f}x jq|sort|uniq")
print(f"stats: spate {rate(n, stats) / rate(pn, mlr_stats):.0f}x mlr")
PY
