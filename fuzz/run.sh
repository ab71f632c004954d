#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after another,
# and prints each target's run count. Needs cargo-fuzz
# (`cargo install cargo-fuzz`) and a nightly toolchain; without nightly,
# RUSTC_BOOTSTRAP=1 lets stable build with the flags cargo-fuzz needs.
#   fuzz/run.sh 300            # five minutes each
#   fuzz/run.sh 60 sig_stripe  # one target
# A target that finds a crash leaves the input in fuzz/artifacts/TARGET/ and
# its log in fuzz/logs/TARGET.log; the others still run; the exit status is 1.
set -uo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^hookroute-fuzz$')
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi
mkdir -p logs
# The config loader starts from the project's own configs.
mkdir -p corpus/config_load
cp ../routes.yaml ../examples/*.yaml corpus/config_load/ 2>/dev/null || true
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t (${seconds}s)"
    # -rss_limit_mb bounds a leak; -max_len keeps configs and bodies realistic.
    if cargo "${toolchain[@]}" fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
        > "logs/$t.log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log" | tail -1)
        echo "   runs: ${runs:-?}"
    else
        echo "   FAILED (see fuzz/logs/$t.log and fuzz/artifacts/$t/)"
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}"
    exit 1
fi
