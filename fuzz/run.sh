#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60) with libFuzzer, one after another,
# on the corpus from seed.sh plus the committed regression inputs; prints executions
# per target and fails if any target crashed (the input is in fuzz/artifacts/<target>/).
#   usage: fuzz/run.sh SECONDS CARGO_FUZZ [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
cargo_fuzz=${2:-.tools/bin/cargo-fuzz}
shift 2 || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(webhook mail_events link_tokens link_requests config orders_csv)
logs=fuzz/logs
mkdir -p "$logs"
failed=()
summary=()
for t in "${targets[@]}"; do
  dirs=("fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
  echo "== fuzz $t for ${seconds}s (log: $logs/$t.log)"
  # -s none: no sanitizer, so the stable toolchain builds it; -O -a: optimised, with
  # debug assertions and overflow checks (an overflow is a crash, as in a debug build).
  "$cargo_fuzz" run -s none -O -a --codegen-units 16 "$t" "${dirs[@]}" -- \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048 \
    >"$logs/$t.log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -1 | grep -o '[0-9]*')
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|Crash' "$logs/$t.log" | head -8
    summary+=("$(printf '%-12s FAILED (exit %s) after %s executions' "$t" "$rc" "${execs:-?}")")
  else
    summary+=("$(printf '%-12s ok   %10s executions in %ss, coverage %s' "$t" "${execs:-?}" "$seconds" "${cov:-?}")")
  fi
done
echo "== fuzz summary"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/<target>/; reproduce with" \
       "$cargo_fuzz run -s none -O -a <target> <file>)"
  exit 1
fi
