#!/usr/bin/env bash
# End-to-end pipeline benchmark (issue: the engine). Generates N click events (JSON lines,
# ~145 B each), then runs, one after the other in the same session:
#   spate run: filter type == "view" -> key_by page -> tumbling 10 s -> count/avg, 1 and 2 workers
#   mlr: the same group-by count (mlr --ijson filter + count -g page), on a slice of the file
# and prints events/s and the ratios. Usage: bench/e2e_pipeline.sh [EVENTS] [MLR_EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000000}
MLR_N=${2:-300000}
SPATE=${SPATE:-build/release/tools/spate/spate}
DATA=${DATA:-data/bench-clicks-$N.jsonl}
mkdir -p data
[ -f "$DATA" ] || "$SPATE" gen clicks --count "$N" --seed 42 > "$DATA"
cat > data/bench-pipeline.yaml <<YAML
name: bench-views
source: {type: file, path: $DATA, format: json}
time: {field: ts, max_out_of_order: 2s}
steps:
  - filter: 'type == "view"'
  - key_by: page
  - window: {tumbling: 10s}
  - aggregate: {views: count(), avg_ms: avg(latency_ms)}
sink: {type: file, path: /dev/null, format: json}
YAML
cat "$DATA" > /dev/null  # warm the page cache
now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1/($3-$2):,.0f}')"; }
declare -A R
for w in 1 2; do
  t0=$(now); "$SPATE" run data/bench-pipeline.yaml --workers $w -q; t1=$(now)
  R[$w]=$(python3 -c "print($N/($t1-$t0))")
  echo "spate run, $w worker(s): $(rate $N $t0 $t1) events/s ($(python3 -c "print(f'{$t1-$t0:.2f}')") s)"
done
head -n "$MLR_N" "$DATA" > data/bench-mlr.jsonl
t0=$(now); mlr --ijson --ojson filter '$type == "view"' then count -g page data/bench-mlr.jsonl > /dev/null; t1=$(now)
M=$(python3 -c "print($MLR_N/($t1-$t0))")
echo "mlr filter+count -g page: $(rate $MLR_N $t0 $t1) events/s (on the first $MLR_N events)"
python3 -c "print(f'2 workers / 1 worker: {${R[2]}/${R[1]}:.2f}x; spate 1 worker / mlr: {${R[1]}/$M:.0f}x; spate 2 workers / mlr: {${R[2]}/$M:.0f}x')"
