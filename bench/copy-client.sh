#!/usr/bin/env bash
# rdump's two COPY-out clients on the same dump: the plain client of pgconn::wire (with
# its pause after small reads, and without it) against tokio-postgres's copy_out.
# Answers two questions of issue 12: does the own COPY path earn its place, and does
# its 400 µs pause.
#
#   bench/copy-client.sh [options]
#     --datasets LIST   comma-separated, from bench/datasets.sh list (default: pgbench)
#     --jobs LIST       -j values (default: 1,2)
#     --compress LIST   rdump -Z values (default: none,zstd:1)
#     --runs N          timed runs of each variant per cell (default: 5); median reported
#     --out FILE        also append the table as markdown to FILE
#     --no-build        use the rdump binary as it is (it must have the test-hooks feature)
#   RDUMP_OLD=PATH      also time this binary (an older rdump), as variant "old"
#
# Variants (one binary, built with --features test-hooks, which reads the switches):
#   plain      the plain client as released (pause 400 µs after a read under 64 KiB)
#   plain-0    the plain client without the pause (RDUMP_WIRE_NAP_US=0)
#   tokio      every worker on tokio-postgres (RDUMP_DATA_CLIENT=tokio-postgres)
# Each run times every variant once, in an order that rotates from run to run, so load
# from other processes spreads over all of them. "client CPU" is user+system time of
# rdump itself; the server's time is not in it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
datasets=pgbench
jobs=1,2
classes=none,zstd:1
runs=5
out=
build=1
while [ $# -gt 0 ]; do
    case $1 in
    --datasets) datasets=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --compress) classes=$2; shift ;;
    --runs) runs=$2; shift ;;
    --out) out=$2; shift ;;
    --no-build) build=0 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done
cmdline="bench/copy-client.sh --datasets $datasets --jobs $jobs --compress $classes --runs $runs"

eval "$("$here/cluster.sh" start)"
bindir=$PG_BINDIR
IFS=, read -r -a ds_list <<<"$datasets"
"$here/datasets.sh" build "${ds_list[@]}"
target=${BENCH_TARGET_DIR:-$root/target/bench-hooks}
if [ "$build" = 1 ]; then
    (cd "$root" && cargo build --release -q -p dump --features test-hooks --target-dir "$target")
fi
rdump=${RDUMP:-$target/release/rdump}
work=${BENCH_WORK:-/tmp/rdump-bench/work}
mkdir -p "$work"

variants=(plain plain-0 tokio)
[ -n "${RDUMP_OLD:-}" ] && variants+=(old)

# run VARIANT DB JOBS CLASS -> appends "seconds cpu_seconds" to $work/VARIANT.times
run_one() {
    local variant=$1 db=$2 j=$3 class=$4 dir=$work/out-copy
    local bin=$rdump env=()
    case $variant in
    plain-0) env=(RDUMP_WIRE_NAP_US=0) ;;
    tokio) env=(RDUMP_DATA_CLIENT=tokio-postgres) ;;
    old) bin=$RDUMP_OLD ;;
    esac
    rm -rf "$dir"
    local t0 t1 user sys
    t0=$(date +%s.%N)
    env "${env[@]}" /usr/bin/time -f "%U %S" -o "$work/time" "$bin" -j "$j" -Z "$class" -f "$dir" "$db"
    t1=$(date +%s.%N)
    read -r user sys <"$work/time"
    echo "$(echo "$t1 - $t0" | bc) $(echo "$user + $sys" | bc)" >>"$work/$variant.times"
    rm -rf "$dir"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v c="$1" '{print $c}' "$2"; }

header="| dataset | -Z | -j | variant | wall s | client CPU s | wall / plain |"
rule="|---|---|---|---|---|---|---|"
rows=()
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$header"
echo "$rule"
for ds in "${ds_list[@]}"; do
    db=$("$here/datasets.sh" db "$ds")
    # Warm the server's caches so the first timed run is not the only cold one.
    rm -rf "$work/warm" && "$rdump" -j 2 -Z none -f "$work/warm" "$db" && rm -rf "$work/warm"
    IFS=, read -r -a class_list <<<"$classes"
    IFS=, read -r -a job_list <<<"$jobs"
    for class in "${class_list[@]}"; do
        for j in "${job_list[@]}"; do
            for v in "${variants[@]}"; do rm -f "$work/$v.times"; done
            n=${#variants[@]}
            for ((r = 0; r < runs; r++)); do
                for ((k = 0; k < n; k++)); do
                    run_one "${variants[$(((r + k) % n))]}" "$db" "$j" "$class"
                done
            done
            base=$(col 1 "$work/plain.times" | median)
            for v in "${variants[@]}"; do
                wall=$(col 1 "$work/$v.times" | median)
                cpu=$(col 2 "$work/$v.times" | median)
                row=$(printf "| %s | %s | %s | %s | %.2f | %.2f | %.3f |" \
                    "$ds" "$class" "$j" "$v" "$wall" "$cpu" "$(echo "$wall / $base" | bc -l)")
                echo "$row"
                rows+=("$row")
            done
        done
    done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average at the end: $load_end"

if [ -n "$out" ]; then
    {
        echo "## rdump's COPY clients: plain vs tokio-postgres ($(date -u +%Y-%m-%d))"
        echo
        echo "Command: \`$cmdline\`"
        echo
        echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB RAM; $("$bindir/postgres" --version);"
        echo "load average at the end: $load_end. Median of $runs rotating runs per cell."
        echo
        echo "$header"
        echo "$rule"
        printf '%s\n' "${rows[@]}"
        echo
    } >>"$out"
fi
