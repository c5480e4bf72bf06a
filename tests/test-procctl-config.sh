#!/usr/bin/env bash
# Integration test of `procctl config check|show` against the built binary: exit codes, the exact
# FILE:LINE:COL lines of a broken file, the lookup order through $PROCSYNC_CONFIG and -c anywhere on the
# command line, and that `config show --json` is JSON with the values and origins of the file.
# Usage: test-procctl-config.sh PROCCTL FIXTURES_DIR README
set -euo pipefail

procctl=$1
fixtures=$2
readme=$3
tmp=$(mktemp -d /tmp/test-procctl-config.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
unset PROCSYNC_CONFIG

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

# run EXPECTED_RC ARGS...: runs procctl, keeps stdout/stderr in $tmp/out and $tmp/err.
run() {
        local want=$1 rc=0
        shift
        "$procctl" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
        if [ "$rc" -ne "$want" ]; then
                echo "--- stdout" >&2; cat "$tmp/out" >&2
                echo "--- stderr" >&2; cat "$tmp/err" >&2
                fail "procctl $* exited $rc, expected $want"
        fi
}

expect_file() {
        local file=$1 expected=$2
        if ! diff -u <(printf '%s\n' "$expected") "$file" >&2; then
                fail "unexpected content of $(basename "$file")"
        fi
}

# A valid file: the feature document's section-4 example.
cp "$fixtures/feature-section4.yaml" "$tmp/valid.yaml"
run 0 config check "$tmp/valid.yaml"
expect_file "$tmp/out" "$tmp/valid.yaml: valid (4 rules, 0 sinks, 0 warnings)"
[ ! -s "$tmp/err" ] || fail "config check of a valid file printed on stderr"

# A broken file: every problem, in file order, at its exact position; the warning is shown too.
cat >"$tmp/broken.yaml" <<'YAML'
os-proc-sync-enabled: maybe
os-proc-regex:
  - match-regex: python3 (.*\.py
    match-type: cmd
colour: red
procsync:
  process_scan_interval: -1
YAML
run 1 config check "$tmp/broken.yaml"
expect_file "$tmp/err" "\
$tmp/broken.yaml:1:23: error: 'os-proc-sync-enabled' must be true or false (or yes/no, on/off), not 'maybe'
$tmp/broken.yaml:3:33: error: invalid regex 'python3 (.*\\.py': missing closing parenthesis (at offset 15)
$tmp/broken.yaml:4:17: error: unknown match-type 'cmd' (expected process_name, cmdline, parent_process_name or tag)
$tmp/broken.yaml:5:1: warning: unknown top-level key 'colour', ignoring
$tmp/broken.yaml:7:26: error: 'procsync.process_scan_interval' must not be negative, got '-1'"
[ ! -s "$tmp/out" ] || fail "config check of a broken file printed on stdout"

# --json of check: the same diagnostics as a document.
run 1 config check --json "$tmp/broken.yaml"
python3 - "$tmp/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] is False and d["errors"] == 4, d
assert [(x["level"], x["line"], x["column"]) for x in d["diagnostics"]] == [
    ("error", 1, 23), ("error", 3, 33), ("error", 4, 17), ("warning", 5, 1), ("error", 7, 26)], d
PY

# Warnings alone do not fail.
printf 'os-proc-sync-enabled: true\nmax_memory: 768\n' >"$tmp/warn.yaml"
run 0 config check "$tmp/warn.yaml"
expect_file "$tmp/err" "$tmp/warn.yaml:2:1: warning: unknown top-level key 'max_memory', ignoring"
expect_file "$tmp/out" "$tmp/warn.yaml: valid (0 rules, 0 sinks, 1 warning)"

# A YAML syntax error.
printf 'a: b\n c: d\n' >"$tmp/syntax.yaml"
run 1 config check "$tmp/syntax.yaml"
expect_file "$tmp/err" "$tmp/syntax.yaml:2:3: error: invalid YAML: mapping values are not allowed in this context"

# A missing file.
run 1 config check "$tmp/missing.yaml"
expect_file "$tmp/err" "$tmp/missing.yaml: error: cannot open the config file: No such file or directory"

# Without FILE: the lookup order, $PROCSYNC_CONFIG then -c (anywhere on the command line).
PROCSYNC_CONFIG=$tmp/broken.yaml run 1 config check
grep -q "^$tmp/broken.yaml:1:23: error:" "$tmp/err" || fail "config check did not follow \$PROCSYNC_CONFIG"
PROCSYNC_CONFIG=$tmp/broken.yaml run 0 config -c "$tmp/valid.yaml" check
PROCSYNC_CONFIG=$tmp/broken.yaml run 0 config check --config="$tmp/valid.yaml"
run 1 -c "$tmp/broken.yaml" config check

# show: human form, one line per key with its origin.
run 0 config show -c "$tmp/valid.yaml"
grep -qx "# $tmp/valid.yaml" "$tmp/out" || fail "config show does not name the file"
grep -qx 'os-proc-sync-enabled            true (file:2)' "$tmp/out" || fail "config show: sync-enabled line"
grep -qx 'os-proc-regex                   4 items (file:3)' "$tmp/out" || fail "config show: rules line"
grep -qx 'os-proc-root                    /proc (default)' "$tmp/out" || fail "config show: default line"
[ "$(grep -c '^    - ' "$tmp/out")" -eq 4 ] || fail "config show does not list the 4 rules"

# show --json (before or after the verb), with --state-dir, and secrets redacted.
cat >"$tmp/sinks.yaml" <<'YAML'
static_config:
  os-proc-sync-enabled: true
  os-proc-regex:
    - match-regex: nginx
      rewrite-name: web
procsync:
  exporter:
    sinks:
      - type: http
        url: https://u:hunter2@collector.example/v1
        headers: {Authorization: Bearer hunter2}
YAML
run 0 --json config show -c "$tmp/sinks.yaml" --state-dir "$tmp/state"
python3 - "$tmp/out" "$tmp" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
tmp = sys.argv[2]
k = d["keys"]
assert d["path"] == tmp + "/sinks.yaml", d["path"]
assert k["os-proc-sync-enabled"] == {"value": True, "origin": "file:2"}, k["os-proc-sync-enabled"]
assert k["os-proc-regex"]["value"][0]["rewrite-name"] == "web"
assert k["procsync.state_dir"] == {"value": tmp + "/state", "origin": "command-line"}
assert k["procsync.api.listen"]["value"] == ["127.0.0.1:9930", "unix:%s/state/api.sock" % tmp]
sink = k["procsync.exporter.sinks"]["value"][0]
assert sink["name"] == "http" and sink["headers"] == {"Authorization": "***"}, sink
assert sink["url"] == "https://u:***@collector.example/v1", sink
PY
if grep -q hunter2 "$tmp/out"; then fail "config show --json leaks a secret"; fi
run 1 config show -c "$tmp/broken.yaml"
grep -q "^$tmp/broken.yaml:3:33: error: invalid regex" "$tmp/err" || fail "config show of a broken file"

# The README's example (the first yaml block of its Configuration section) is valid as written.
python3 - "$readme" "$tmp/readme.yaml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text[text.index("## Configuration"):]
open(sys.argv[2], "w").write(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
PY
run 0 config check "$tmp/readme.yaml"
expect_file "$tmp/out" "$tmp/readme.yaml: valid (3 rules, 3 sinks, 0 warnings)"

# Command-line errors.
run 2 frobnicate
grep -q "Unknown command 'frobnicate'" "$tmp/err" || fail "unknown verb message"
run 2 config frobnicate
run 2 config check a b
run 2 config show --all
run 2
run 2 -c
run 2 config show --config=
run 2 config show --state-dir ''
run 0 --help
grep -q 'config check \[FILE\]' "$tmp/out" || fail "--help does not list config check"
run 0 --version
grep -qx 'procctl [0-9.]*' "$tmp/out" || fail "--version output"

echo "ok"
