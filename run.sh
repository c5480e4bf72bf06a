#!/usr/bin/env bash
# Builds procsync (into build/, the same tree ./test.sh uses) and runs the suite in the foreground on this
# host with the embedded default config and ./var as the state directory. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")"
. .ci/deps.sh
procsync_install_deps

if [ ! -f build/build.ninja ]; then
        meson setup build -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C build

export ASAN_OPTIONS="detect_leaks=0"
mkdir -p var
exec ./build/ctl/procctl --state-dir ./var run "$@"
