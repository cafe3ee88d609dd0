#!/usr/bin/env bash
# Host memory known before it is spent: each run's estimate (summary.json's
# host_memory_estimate, computed before anything is allocated) against its measured peak resident
# set (GNU time's maximum RSS), and their ratio. Outside CI: 1M chains take a minute or two.
# Usage: bash scripts/memory-check.sh [ESCAPADE] [CHAINS]
set -euo pipefail
BIN="${1:-target/release/escapade}"
CHAINS="${2:-1048576}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$OUT}"
printf '%-58s %12s %12s %7s\n' "run" "estimate MB" "peak RSS MB" "ratio"
run() {
    local name="$1"; shift
    /usr/bin/time -f "%M" -o "$OUT/rss" "$BIN" run "$@" --seed 1 --plots none --progress none --quiet --force --out "$OUT/run" >/dev/null
    local rss_kb est
    rss_kb="$(tail -1 "$OUT/rss")"
    est="$(python3 -c "import json;print(json.load(open('$OUT/run/summary.json'))['host_memory_estimate'])")"
    python3 -c "e=$est/1e6; m=$rss_kb*1024/1e6; print(f'{\"$name\":<58} {e:12.1f} {m:12.1f} {e/m:7.2f}')"
}
for backend in cpu gpu; do
    # Every chain stalled at a minimum at the end: every one judged (the estimate's worst case).
    run "toy d=2, $CHAINS chains, all judged, $backend" --objective toy-saddle --method pgd --chains "$CHAINS" --steps 1000 --backend "$backend"
    # Few stalled: most chains not judged (the estimate is the worst case, so above).
    run "toy d=2, $CHAINS chains, few judged, $backend" --objective toy-saddle --method pgd --chains "$CHAINS" --steps 50 --backend "$backend"
    run "quartic d=32, $((CHAINS / 16)) chains, all judged, $backend" --objective quartic --dim 32 --method pgd --chains "$((CHAINS / 16))" --steps 2000 --backend "$backend"
done
