#!/usr/bin/env bash
# The valgrind stage of test.sh (README "Reliability"): valgrind cannot run the ASan+UBSan build of
# build/, so this configures its own build dir without sanitizers (build-valgrind/, gcc, debug, warnings
# as errors as everywhere), builds the five programs the test runs and runs the `valgrind` meson suite there
# (tests/valgrind/test-valgrind.py: the four daemons for a few cycles and the procctl verbs under
# memcheck). Exits non-zero on any valgrind report or failed check; the test's log is printed.
#
#   tests/valgrind/run.sh [MESON TEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build-valgrind

if [ ! -f "$build/build.ninja" ]; then
        meson setup "$build" -Dbuildtype=debug -Db_sanitize=none
fi
start=$SECONDS
meson compile -C "$build" scanner/procsync-scanner:executable matcher/procsync-matcher:executable \
        exporter/procsync-exporter:executable ctl/procsync-api:executable ctl/procctl:executable
meson test -C "$build" --no-rebuild --suite valgrind --print-errorlogs --num-processes 1 "$@"
echo "valgrind: stage took $((SECONDS - start)) s"
