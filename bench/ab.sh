#!/usr/bin/env bash
# A/B timing of one change on a loaded machine: runs a model's tfjs worker alternately from a
# baseline tree and from this checkout, ABBA order, and prints each run's median ms/it, then the
# median of the medians (and of the minima, the least disturbed figure under load) per side and
# their ratio (new / base).
#
# The baseline is any other tree of this project, e.g. the last commit before the change:
#   git archive HEAD | tar -x -C /tmp/catgan-base
#   ln -s "$PWD/node_modules" /tmp/catgan-base/node_modules
#   ln -s "$PWD/.tensorflow" /tmp/catgan-base/.tensorflow
#   bench/ab.sh /tmp/catgan-base cyclegan 4 1 4
#
# Both sides run one intra-op thread unless THREADS says otherwise; extra worker flags go in
# WORKER_FLAGS (e.g. "--backend wasm").
# Limitation: the baseline tree must have the model's worker (bench/<model>_tfjs.ts).
set -euo pipefail
base=$1 model=$2 iters=$3 warmup=$4 rounds=$5
here=$(cd "$(dirname "$0")/.." && pwd)
deno="$here/node_modules/.bin/deno"
export TF_NUM_INTRAOP_THREADS=${THREADS:-1} TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
flags=${WORKER_FLAGS:---backend tensorflow}
results=$(mktemp)
one() {
  local side=$1 dir=$2 load line
  load=$(cut -d' ' -f1 /proc/loadavg)
  # shellcheck disable=SC2086
  line=$(cd "$dir" && "$deno" run -A "bench/${model}_tfjs.ts" $flags --iters "$iters" \
    --warmup "$warmup" 2>/dev/null | sed -n 's/^BENCH_RESULT //p')
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(sys.argv[2], round(d["ms"]["median"]), round(d["ms"]["min"]), d["memory"]["end"]["tensors"], sys.argv[3])' \
    "$line" "$side" "$load" | tee -a "$results"
}
echo "side median_ms min_ms tensors load_1min"
for r in $(seq 1 "$rounds"); do
  if (( r % 2 )); then one base "$base"; one new "$here"; else one new "$here"; one base "$base"; fi
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
for col, name in ((1, "median of medians"), (2, "median of minima")):
    m = {s: statistics.median(float(r[col]) for r in rows if r[0] == s) for s in ("base", "new")}
    print(f"{name}: base {m['base']:.0f} ms/it, new {m['new']:.0f} ms/it, "
          f"new/base {m['new'] / m['base']:.3f}")
PY
rm -f "$results"
