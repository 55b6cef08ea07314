#!/usr/bin/env bash
# rdump against pg_dump -Fd: same server, same compression class, alternating runs.
#
#   bench/dump.sh [options]
#     --datasets LIST   comma-separated, from bench/datasets.sh list (default: all)
#     --jobs LIST       -j values (default: 1,2,4)
#     --compress LIST   classes (default: none,default):
#                         none     rdump -Z none        pg_dump -Z 0
#                         gzip     rdump -Z gzip:6      pg_dump -Z 6 (same codec, same level)
#                         default  each tool's default  (rdump: zstd:1; pg_dump 15: gzip:6)
#                         lz4      rdump -Z lz4         pg_dump -Z lz4 (pg_dump 16+ only)
#                         zstd     rdump -Z zstd:3      pg_dump -Z zstd:3 (pg_dump 16+ only)
#     --runs N          timed runs of each tool per cell (default: 3); median reported
#     --out FILE        also write the table as markdown to FILE (e.g. bench/RESULTS.md)
#     --no-build        use the rdump binary as it is
#   NICE=-10            run the server and both tools at this niceness (root only), so that
#                       other work on the machine disturbs the comparison less
#
# Starts the benchmark cluster (bench/cluster.sh) and builds missing datasets first.
# Each cell runs rdump and pg_dump alternately (which goes first alternates too), so
# load from other processes spreads over both. Times are wall-clock seconds of the
# whole program; "client CPU" is user+system time of the dump program itself (the
# server's time is not in it). Ratio = pg_dump median / rdump median.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
datasets=$("$here/datasets.sh" list | paste -sd, -)
jobs=1,2,4
classes=none,default
runs=3
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
cmdline="bench/dump.sh $*"
[ -n "$out" ] && cmdline="bench/dump.sh --datasets $datasets --jobs $jobs --compress $classes --runs $runs --out $out"

eval "$("$here/cluster.sh" start)"
bindir=$PG_BINDIR
nice_cmd=()
if [ -n "${NICE:-}" ]; then
    # The postmaster's children inherit its niceness; the ones already running are reniced.
    pm=$(head -1 "$BENCH_CLUSTER/data/postmaster.pid")
    # shellcheck disable=SC2046
    renice -n "$NICE" -p "$pm" $(pgrep -P "$pm") >/dev/null
    nice_cmd=(nice -n "$NICE")
fi
IFS=, read -r -a ds_list <<<"$datasets"
"$here/datasets.sh" build "${ds_list[@]}"
if [ "$build" = 1 ]; then
    (cd "$root" && cargo build --release -q -p dump)
fi
rdump=${RDUMP:-$root/target/release/rdump}
work=${BENCH_WORK:-/tmp/rdump-bench/work}
mkdir -p "$work"

rdump_z() {
    case $1 in
    none) echo "-Z none" ;;
    gzip) echo "-Z gzip:6" ;;
    default) echo "" ;;
    lz4) echo "-Z lz4" ;;
    zstd) echo "-Z zstd:3" ;;
    esac
}
pg_dump_z() {
    case $1 in
    none) echo "-Z 0" ;;
    gzip) echo "-Z 6" ;;
    default) echo "" ;;
    lz4) echo "-Z lz4" ;;
    zstd) echo "-Z zstd:3" ;;
    esac
}

# run TOOL DB JOBS CLASS -> appends "seconds cpu_seconds max_rss_kb bytes" to $work/TOOL.times
run_one() {
    local tool=$1 db=$2 j=$3 class=$4 dir=$work/out-$1
    rm -rf "$dir"
    local t0 t1
    t0=$(date +%s.%N)
    if [ "$tool" = rdump ]; then
        # shellcheck disable=SC2046
        "${nice_cmd[@]}" /usr/bin/time -f "%U %S %M" -o "$work/time" "$rdump" -j "$j" $(rdump_z "$class") -f "$dir" "$db"
    else
        # shellcheck disable=SC2046
        "${nice_cmd[@]}" /usr/bin/time -f "%U %S %M" -o "$work/time" "$bindir/pg_dump" -Fd -j "$j" $(pg_dump_z "$class") -f "$dir" "$db"
    fi
    t1=$(date +%s.%N)
    local user sys rss bytes
    read -r user sys rss <"$work/time"
    bytes=$(du -sb "$dir" | cut -f1)
    echo "$(echo "$t1 - $t0" | bc) $(echo "$user + $sys" | bc) $rss $bytes" >>"$work/$tool.times"
    rm -rf "$dir"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v c="$1" '{print $c}' "$2"; }

header="| dataset | compression | -j | rdump s | pg_dump s | ratio | rdump MB | pg_dump MB | rdump client CPU s | pg_dump client CPU s | rdump max RSS MB |"
rule="|---|---|---|---|---|---|---|---|---|---|---|"
rows=()
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
            rm -f "$work/rdump.times" "$work/pg_dump.times"
            for ((r = 0; r < runs; r++)); do
                if ((r % 2 == 0)); then
                    run_one rdump "$db" "$j" "$class"
                    run_one pg_dump "$db" "$j" "$class"
                else
                    run_one pg_dump "$db" "$j" "$class"
                    run_one rdump "$db" "$j" "$class"
                fi
            done
            rt=$(col 1 "$work/rdump.times" | median)
            pt=$(col 1 "$work/pg_dump.times" | median)
            rc=$(col 2 "$work/rdump.times" | median)
            pc=$(col 2 "$work/pg_dump.times" | median)
            rm_=$(col 3 "$work/rdump.times" | sort -g | tail -1)
            rb=$(col 4 "$work/rdump.times" | median)
            pb=$(col 4 "$work/pg_dump.times" | median)
            row=$(printf "| %s | %s | %s | %.2f | %.2f | **%.2f** | %.0f | %.0f | %.2f | %.2f | %.0f |" \
                "$ds" "$class" "$j" "$rt" "$pt" "$(echo "$pt / $rt" | bc -l)" \
                "$(echo "$rb / 1000000" | bc -l)" "$(echo "$pb / 1000000" | bc -l)" \
                "$rc" "$pc" "$(echo "$rm_ / 1024" | bc -l)")
            echo "$row"
            rows+=("$row")
        done
    done
done

if [ -n "$out" ]; then
    {
        echo "## rdump vs pg_dump -Fd ($(date -u +%Y-%m-%d))"
        echo
        echo "Command: \`$cmdline\`"
        echo
        echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB RAM; $("$bindir/postgres" --version);"
        echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)${NICE:+; server and tools at nice $NICE}. Median of $runs alternating runs per cell."
        echo
        echo "$header"
        echo "$rule"
        printf '%s\n' "${rows[@]}"
        echo
    } >>"$out"
fi
