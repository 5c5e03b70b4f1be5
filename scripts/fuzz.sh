#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time each, one after the other, and
# exits non-zero if any of them finds a crash (or fails to build or run).
#
#   scripts/fuzz.sh [SECONDS]     seconds per target: the argument, else $FUZZ_SECONDS, else 60
#
# Environment:
#   FUZZ_SECONDS     seconds per target when no argument is given (default 60)
#   FUZZ_SANITIZER   address (default, cargo-fuzz's own default) or none; when the address
#                    sanitizer does not build here, the script falls back to none by itself
#   FUZZ_TARGETS     space-separated subset of targets to run (default: all, `cargo fuzz list`)
#
# Only the stable toolchain is available, so RUSTC_BOOTSTRAP=1 lets it accept the -Z flags
# cargo-fuzz passes. The fuzz crate builds into fuzz/target (never the main crate's target/);
# corpora grow in fuzz/corpus/<target>/ and crashing inputs are written to
# fuzz/artifacts/<target>/; each run's full libFuzzer output is kept in fuzz/target/fuzz-logs/.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz_dir="$root/fuzz"
log_dir="$fuzz_dir/target/fuzz-logs"

secs=${1:-${FUZZ_SECONDS:-60}}
if ! [[ "$secs" =~ ^[0-9]+$ ]] || ((secs < 1)); then
    echo "usage: $0 [SECONDS]  (a whole number of seconds per target, at least 1)" >&2
    exit 2
fi
sanitizer=${FUZZ_SANITIZER:-address}

export RUSTC_BOOTSTRAP=1
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# The fuzz crate keeps its own target dir (fuzz/target): never build into the main crate's.
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR

say() { printf '[fuzz] %s\n' "$*" >&2; }

# --- What the fuzzers need -------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
    say "cargo not found: install a Rust toolchain first"
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked || { say "could not install cargo-fuzz"; exit 1; }
fi
# libfuzzer-sys compiles libFuzzer's C++ sources.
if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "installing g++ (libFuzzer is C++)"
        { apt-get update -qq && apt-get install -y -qq g++; } >/dev/null ||
            { say "could not install g++"; exit 1; }
    else
        say "a C++ compiler (g++) is needed to build libFuzzer"
        exit 1
    fi
fi
# A new fuzz crate resolves its dependencies like the main crate's lock file does.
if [[ ! -f "$fuzz_dir/Cargo.lock" && -f "$root/Cargo.lock" ]]; then
    cp "$root/Cargo.lock" "$fuzz_dir/Cargo.lock"
fi

cd "$root" || exit 1
fuzz() { cargo fuzz "$@" --fuzz-dir "$fuzz_dir"; }

# --- Build every target once ----------------------------------------------------------------
say "$(cargo fuzz --version), $(rustc --version)"
say "building all targets (sanitizer: $sanitizer; the first build takes a while)"
build_start=$SECONDS
if ! fuzz build --sanitizer "$sanitizer"; then
    if [[ "$sanitizer" != none ]]; then
        say "build with sanitizer $sanitizer failed; retrying with --sanitizer none"
        sanitizer=none
        fuzz build --sanitizer none || { say "build failed"; exit 1; }
    else
        say "build failed"
        exit 1
    fi
fi
say "built in $((SECONDS - build_start)) s"

if [[ -n "${FUZZ_TARGETS:-}" ]]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    mapfile -t targets < <(fuzz list)
fi
if ((${#targets[@]} == 0)); then
    say "no fuzz targets found"
    exit 1
fi

# --- Seeds: a few realistic inputs for the text targets, only into an empty corpus ------------
seed() { # seed TARGET NAME CONTENT
    local dir="$fuzz_dir/corpus/$1"
    mkdir -p "$dir"
    [[ -e "$dir/seed-$2" ]] || printf '%b' "$3" >"$dir/seed-$2"
}
seed_if_empty() { # seed_if_empty TARGET: true when the corpus has nothing yet
    local dir="$fuzz_dir/corpus/$1"
    [[ ! -d "$dir" ]] || [[ -z "$(ls -A "$dir")" ]]
}
if seed_if_empty exotel_params; then
    seed exotel_params connect 'CallFrom=07709562799&CallSid=c39894edd8a85d7fd95dbf5fdb65157g&CallTo=07314853246&CallType=call-attempt&DialCallStatus=null&From=07709562799&To=07314853246&digits=%22568%22'
    seed exotel_params completed 'CallSid=3edd4e59486d&DialCallDuration=40&Legs%5B0%5D%5BNumber%5D=07995679243&Legs%5B0%5D%5BOnCallDuration%5D=31&Legs[1][Insights][DetailedStatus]=CALL_COMPLETED&Legs[1][OnCallDuration]=4.39'
    seed exotel_params post 'CallSid=abc\0CallFrom=09812345678&digits=%221234%23%22'
fi
if seed_if_empty dtmf_digits; then
    seed dtmf_digits quoted '"4821#"'
    seed dtmf_digits curly ' \xe2\x80\x9c568\xe2\x80\x9d '
fi
if seed_if_empty phone_number; then
    seed phone_number national '07709562799'
    seed phone_number spaced '+91 77095 62799'
    seed phone_number plusless ' 917709562799'
    seed phone_number us '+1 415 555 2671'
fi
if seed_if_empty eight_by_eight_body; then
    seed eight_by_eight_body vca '{"eventType":"CALL_ACTION","payload":{"sessionId":"s1","callStatus":"ACTION_COMPLETED","clientActionId":"pinbridge-pin","source":"+6568888888","destination":"+6598888888","eventData":{"dtmf":"4821#"}}}'
    seed eight_by_eight_body vss '{"eventType":"SESSION_SUMMARY","payload":{"sessionId":"s1","sessionStatus":"COMPLETED","lastAction":"MAKE_CALL","details":{"callA":{"source":"+12314377870","destination":"+6568332048","callDuration":13},"callB":{"destination":"+6591178965","callDuration":"13","initiatedTimestamp":"2024-03-25T06:01:30Z","disconnectedTimestamp":"2024-03-25T06:01:50Z"}}}}'
fi

# --- Run each target ------------------------------------------------------------------------
mkdir -p "$log_dir"
# Corpus replay and cargo's own start-up come on top of -max_total_time; past this the run is
# stopped and counted as a failure.
grace=$((120 + secs / 2))
failed=0
summary=()
for t in "${targets[@]}"; do
    log="$log_dir/$t.log"
    say "running $t for $secs s (log: ${log#"$root/"})"
    start=$SECONDS
    timeout --signal=INT --kill-after=30 "$((secs + grace))" \
        cargo fuzz run "$t" --fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" -- \
        -max_total_time="$secs" -timeout=20 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    elapsed=$((SECONDS - start))

    runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    eps=$(grep -oE '^stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    cov=$(grep -oE ' cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
    corp=$(grep -oE ' corp: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
    artifact=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | sed 's/^Test unit written to //')

    if ((rc == 0)); then
        result=ok
    elif ((rc == 124 || rc == 137)); then
        result="STOPPED (over $((secs + grace)) s)"
        failed=1
    elif [[ -n "$artifact" ]]; then
        result="CRASH"
        failed=1
    else
        result="FAILED (exit $rc)"
        failed=1
    fi
    line=$(printf '%-20s %-8s runs=%-9s exec/s=%-7s cov=%-5s corpus=%-5s time=%ss' \
        "$t" "$result" "${runs:-?}" "${eps:-?}" "${cov:-?}" "${corp:-?}" "$elapsed")
    [[ -n "$artifact" ]] && line+="  input: $artifact"
    summary+=("$line")
    if [[ "$result" != ok ]]; then
        say "$t: $result; the end of its log:"
        grep -E "panicked at|^thread '|ERROR: libFuzzer|SUMMARY:|Test unit written|Base64:" "$log" | head -20 >&2
        tail -n 5 "$log" >&2
    fi
done

echo
echo "Fuzz summary ($secs s per target, sanitizer: $sanitizer):"
printf '  %s\n' "${summary[@]}"
if ((failed)); then
    echo "FAILED: reproduce a crash with: cargo fuzz run --fuzz-dir fuzz --sanitizer $sanitizer TARGET fuzz/artifacts/TARGET/crash-..."
    exit 1
fi
echo "all ${#targets[@]} targets ran without a crash"
