#!/usr/bin/env bash
# Builds procsync with AddressSanitizer + UndefinedBehaviorSanitizer into build/ and runs every test.
# Installs the Debian packages it needs first. Tests that need root or a kernel feature skip (77) without.
set -euo pipefail
cd "$(dirname "$0")"
. .ci/deps.sh
procsync_install_deps

# Debian's python3-grpcio lives in /usr/lib/python3/dist-packages: the tests use /usr/bin/python3.
if [ ! -f build/build.ninja ]; then
        meson setup build -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C build

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"

rc=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || rc=$?

# ---- Fuzz stage (tests/fuzz, README "Fuzzing"): every libFuzzer harness for a short fixed budget, in its
# own clang build dir (build-fuzz/). PROCSYNC_SKIP_FUZZ=1 skips it for quick local runs; CI runs it.
if [ "${PROCSYNC_SKIP_FUZZ:-0}" = 1 ]; then
        echo "fuzz: skipped (PROCSYNC_SKIP_FUZZ=1)"
else
        tests/fuzz/run.sh || rc=$?
fi

# ---- Valgrind stage (tests/valgrind, README "Reliability"): the daemons and procctl under memcheck, in a
# build without sanitizers (build-valgrind/). PROCSYNC_SKIP_VALGRIND=1 skips it for quick local runs.
if [ "${PROCSYNC_SKIP_VALGRIND:-0}" = 1 ]; then
        echo "valgrind: skipped (PROCSYNC_SKIP_VALGRIND=1)"
else
        tests/valgrind/run.sh || rc=$?
fi
exit $rc
