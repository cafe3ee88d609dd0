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
for t in gpu_matches_cpu engine catalogue checks resume large_dim; do
    log "test $t"; timeout 300 ".devbin/tests/$t" --test-threads 2 2>&1 | tail -5 | tee -a "$OUT/device.log"
done
log "bench (the large-d workloads on the cooperative kernel)"; ESCAPADE_BENCH_LARGE=1 ESCAPADE_BENCH_STEPS=400 timeout 300 .devbin/tests/throughput --bench --warm-up-time 1 --measurement-time 3 2>&1 | grep -E "cooperative|peak|workload" | tee -a "$OUT/device.log"
log "quartic d=4096, 65536 chains on the cooperative kernel: rate, peak RSS, device estimate"; /usr/bin/time -f "peak RSS %M kB, wall %e s" timeout 120 .devbin/escapade run --objective quartic --dim 4096 --method pgd --chains 65536 --steps 200 --init uniform:1 --backend gpu --certify-eps off --out "$OUT/quartic4096" --progress none --plots none --quiet 2>&1 | tail -2 | tee -a "$OUT/device.log"; grep -E "device_memory|chain_steps_per_second\"|kernel_family" "$OUT/quartic4096/summary.json" | tee -a "$OUT/device.log"
log "bench (three workloads, 1M chains each, full step vs bare loop)"; ESCAPADE_BENCH_CHAINS=1048576 ESCAPADE_BENCH_STEPS=2000 timeout 300 .devbin/tests/throughput --bench --warm-up-time 1 --measurement-time 3 2>&1 | grep -vE "^ *(Benchmarking|Found|Warning)" | tee -a "$OUT/device.log"
log "toy saddle 1M chains x 10k steps: peak RSS (issue 20, item 3)"; /usr/bin/time -f "peak RSS %M kB, wall %e s" timeout 120 .devbin/escapade run --objective toy-saddle --method pgd --chains 1048576 --steps 10000 --backend gpu --out "$OUT/toy10k" --progress none --plots none --quiet 2>&1 | tail -2 | tee -a "$OUT/device.log"
log "octopus ensemble"; timeout 120 .devbin/escapade run --objective octopus --dim 10 --method pgd --chains 1048576 --steps 5000 --backend gpu --out "$OUT/octopus" --progress none --plots none --certify-eps off 2>&1 | tail -4 | tee -a "$OUT/device.log"
