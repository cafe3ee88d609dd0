#!/usr/bin/env bash
# Runs on the lent GPU machine over binaries carried in .devbin/ (scripts/prepare-device.sh):
# the adapter, the GPU tests, the throughput benchmark and a large octopus ensemble. Everything
# it prints and writes goes to $OUT for BENCHMARKS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
for f in .devbin/gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export XDG_RUNTIME_DIR=$(mktemp -d); chmod 700 "$XDG_RUNTIME_DIR"
export CI=true
OUT=${OUT:-/tmp/out}
log() { echo "== $*" | tee -a "$OUT/device.log"; }
log "adapter"; .devbin/escapade info 2>&1 | tee -a "$OUT/device.log"
for t in gpu_matches_cpu engine catalogue checks resume; do
    log "test $t"; timeout 120 ".devbin/tests/$t" --test-threads 2 2>&1 | tail -5 | tee -a "$OUT/device.log"
done
log "bench (three workloads, 1M chains each, full step vs bare loop)"; ESCAPADE_BENCH_CHAINS=1048576 ESCAPADE_BENCH_STEPS=2000 timeout 300 .devbin/tests/throughput --bench --warm-up-time 1 --measurement-time 3 2>&1 | grep -vE "^ *(Benchmarking|Found|Warning)" | tee -a "$OUT/device.log"
log "toy saddle 1M chains x 10k steps: peak RSS (issue 20, item 3)"; /usr/bin/time -f "peak RSS %M kB, wall %e s" timeout 120 .devbin/escapade run --objective toy-saddle --method pgd --chains 1048576 --steps 10000 --backend gpu --out "$OUT/toy10k" --progress none --plots none --quiet 2>&1 | tail -2 | tee -a "$OUT/device.log"
log "octopus ensemble"; timeout 120 .devbin/escapade run --objective octopus --dim 10 --method pgd --chains 1048576 --steps 5000 --backend gpu --out "$OUT/octopus" --progress none --plots none --certify-eps off 2>&1 | tail -4 | tee -a "$OUT/device.log"
