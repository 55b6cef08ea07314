#!/usr/bin/env bash
# Why rdump's default is zstd:1: rdump -j 2 with each candidate codec and level on every
# dataset, median wall time and archive size. (pg_dump 15 has only gzip, so this is
# rdump alone; bench/dump.sh compares the tools.)
#
#   bench/levels.sh [--codecs LIST] [--runs N] [--out FILE] [--no-build]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
codecs=none,lz4,zstd:1,zstd:3,zstd:6,gzip:1,gzip:6
runs=3
out=
build=1
while [ $# -gt 0 ]; do
    case $1 in
    --codecs) codecs=$2; shift ;;
    --runs) runs=$2; shift ;;
    --out) out=$2; shift ;;
    --no-build) build=0 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done
eval "$("$here/cluster.sh" start)"
mapfile -t ds_list < <("$here/datasets.sh" list)
"$here/datasets.sh" build "${ds_list[@]}"
if [ "$build" = 1 ]; then
    (cd "$root" && cargo build --release -q -p dump)
fi
rdump=${RDUMP:-$root/target/release/rdump}
work=${BENCH_WORK:-/tmp/rdump-bench/work}
mkdir -p "$work"
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

header="| dataset | codec | rdump -j 2 s | archive MB | client CPU s |"
rows=()
echo "$header"
IFS=, read -r -a codec_list <<<"$codecs"
for ds in "${ds_list[@]}"; do
    db=$("$here/datasets.sh" db "$ds")
    for z in "${codec_list[@]}"; do
        : >"$work/levels.times"
        for ((r = 0; r < runs; r++)); do
            rm -rf "$work/lv"
            t0=$(date +%s.%N)
            /usr/bin/time -f "%U %S" -o "$work/time" "$rdump" -j 2 -Z "$z" -f "$work/lv" "$db"
            t1=$(date +%s.%N)
            read -r user sys <"$work/time"
            echo "$(echo "$t1 - $t0" | bc) $(du -sb "$work/lv" | cut -f1) $(echo "$user + $sys" | bc)" >>"$work/levels.times"
        done
        rm -rf "$work/lv"
        rows+=("$(printf "| %s | %s | %.2f | %.0f | %.2f |" "$ds" "$z" \
            "$(awk '{print $1}' "$work/levels.times" | median)" \
            "$(echo "$(awk '{print $2}' "$work/levels.times" | median) / 1000000" | bc -l)" \
            "$(awk '{print $3}' "$work/levels.times" | median)")")
        echo "${rows[-1]}"
    done
done
if [ -n "$out" ]; then
    {
        echo "## rdump's codecs and levels ($(date -u +%Y-%m-%d))"
        echo
        echo "Command: \`bench/levels.sh --codecs $codecs --runs $runs --out $out\`; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo
        echo "$header"
        echo "|---|---|---|---|---|"
        printf '%s\n' "${rows[@]}"
        echo
    } >>"$out"
fi
