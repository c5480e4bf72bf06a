#!/usr/bin/env bash
# Builds procsync (into build/, the same tree ./test.sh uses) and runs the four daemons in the foreground on
# this host under `procctl run`, with ./var as the state directory. The config is the embedded default unless
# $PROCSYNC_CONFIG or /etc/procsync/procsync.yaml exists. Arguments go to procctl: ./run.sh -c my.yaml
# Ctrl-C stops everything. Works as root (the scanner sees every process and socket) and as any other user
# (it sees every process, but only that user's sockets and executables). README "Running it" has the details.
set -euo pipefail
cd "$(dirname "$0")"
. .ci/deps.sh
procsync_install_deps

if [ ! -f build/build.ninja ]; then
        meson setup build -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C build

# The build is instrumented: keep ASan, but a leak report at every daemon's exit is noise here.
export ASAN_OPTIONS="detect_leaks=0"
exec ./build/ctl/procctl --state-dir ./var run "$@"
