#!/usr/bin/env bash
# The fuzz stage of test.sh (README "Fuzzing"): builds the libFuzzer harnesses in their own clang build dir
# (build-fuzz/) and runs each one for a fixed budget over a temporary copy of its seed corpus
# tests/fuzz/corpus/NAME/, so that the inputs a run discovers never land in the repository. Exits 1 when
# any harness reports something (crash, leak, sanitizer report, timeout, out-of-memory); its log tail is
# printed and the input that triggered it is kept in build-fuzz/fuzz-artifacts/NAME/.
#
#   tests/fuzz/run.sh [NAME...]          every harness (tests/fuzz/fuzz-*.c) when none is named
#   PROCSYNC_FUZZ_TIME=20                seconds per harness
#   PROCSYNC_FUZZ_JOBS=2                 harnesses run at once (the CI machine has 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build-fuzz
budget=${PROCSYNC_FUZZ_TIME:-20}
jobs=${PROCSYNC_FUZZ_JOBS:-2}

if [ ! -f "$build/build.ninja" ]; then
        CC=clang meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$build" fuzz

# Sanitizer settings when the caller (test.sh) has not set them. Every harness is built with
# -fno-sanitize-recover=all, so an UBSan report is fatal either way.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
        for f in tests/fuzz/fuzz-*.c; do
                f=${f##*/fuzz-}
                names+=("${f%.c}")
        done
fi

work=$(mktemp -d -t procsync-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/fuzz-logs"

# Runs one harness; its log goes to build-fuzz/fuzz-logs/NAME.log and its exit code to $work/NAME.rc.
run_one() {
        local name=$1 exe="$build/tests/fuzz/fuzz-$1" corpus="$work/$1" artifacts="$build/fuzz-artifacts/$1"
        local rc=0

        rm -rf "$artifacts"
        mkdir -p "$corpus" "$artifacts"
        cp tests/fuzz/corpus/"$name"/* "$corpus"/
        "$exe" -max_total_time="$budget" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
                -artifact_prefix="$artifacts/" "$corpus" >"$build/fuzz-logs/$name.log" 2>&1 || rc=$?
        echo "$rc" >"$work/$name.rc"
}

for name in "${names[@]}"; do
        if [ ! -x "$build/tests/fuzz/fuzz-$name" ] || [ ! -d "tests/fuzz/corpus/$name" ]; then
                echo "fuzz: no harness or no seed corpus named '$name'" >&2
                exit 1
        fi
done

echo "fuzz: ${#names[@]} harnesses, ${budget}s each, $jobs at a time"
running=0
for name in "${names[@]}"; do
        if [ "$running" -ge "$jobs" ]; then
                wait -n
                running=$((running - 1))
        fi
        run_one "$name" &
        running=$((running + 1))
done
wait

failed=0
for name in "${names[@]}"; do
        log="$build/fuzz-logs/$name.log"
        rc=$(cat "$work/$name.rc")
        if [ "$rc" -ne 0 ]; then
                failed=1
                echo "fuzz: FAIL $name (exit $rc); full log $log; its end:" >&2
                grep -v '^#[0-9]' "$log" | tail -n 40 >&2
                echo "fuzz: reproduce with: $build/tests/fuzz/fuzz-$name $build/fuzz-artifacts/$name/*" >&2
        else
                printf 'fuzz: ok   %-12s %s runs, %s new inputs, %s MB peak\n' "$name" \
                        "$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")" \
                        "$(sed -n 's/^stat::new_units_added: *//p' "$log")" \
                        "$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")"
        fi
done
exit $failed
