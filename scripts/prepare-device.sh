#!/usr/bin/env bash
# Prepares a device check (a lent GPU machine, see the tool library's device README): builds the
# binaries here and copies them, with the Vulkan/EGL loaders, into .devbin/ (ignored by git), to
# be carried to the device and run there by scripts/device-check.sh.
#   bash scripts/prepare-device.sh    then    device run: carry [".devbin"], command:
#   bash scripts/device-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.devbin/' .git/info/exclude 2>/dev/null || echo '/.devbin/' >> .git/info/exclude
rm -rf .devbin && mkdir -p .devbin/tests .devbin/gl
cargo build --release --bins --tests --benches
cp target/release/escapade .devbin/
# Test and bench executables: the newest of each name.
for t in gpu_matches_cpu engine catalogue checks resume large_dim throughput; do
    f=$(ls -t target/release/deps/${t}-* 2>/dev/null | grep -v '\.d$' | head -1)
    [ -n "$f" ] && cp "$f" ".devbin/tests/$t"
done
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
mkdir -p /tmp/amd64/partial
apt-get $o update -qq
(cd .devbin/gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 fonts-dejavu-core >/dev/null)
du -sh .devbin
