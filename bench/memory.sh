#!/usr/bin/env bash
# Peak memory of rdump -j 8 on one 10 GB table (issue target: under 200 MB), for each
# codec. The table is UNLOGGED (built without WAL; dumped exactly like a logged one)
# and holds ~1 kB rows of hex text, so compression has real work to do.
#
#   bench/memory.sh [--size-gb N] [--out FILE] [--no-build]
#
# Uses the benchmark cluster (bench/cluster.sh); database bench_big is built once
# (rebuilt when its size differs). Needs about 2 x N GB of free disk.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
size_gb=10
out=
build=1
while [ $# -gt 0 ]; do
    case $1 in
    --size-gb) size_gb=$2; shift ;;
    --out) out=$2; shift ;;
    --no-build) build=0 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done

eval "$("$here/cluster.sh" start)"
bindir=$PG_BINDIR
psql_q() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
marker="rdump bench big ${size_gb}GB"
have=$(psql_q -d postgres -Atc "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'bench_big'")
if [ "$have" != "$marker" ]; then
    rows=$((size_gb * 1024 * 1024 / 1100 * 1024))
    echo "building bench_big: $rows rows of ~1 kB ..." >&2
    psql_q -d postgres -c "DROP DATABASE IF EXISTS bench_big" -c "CREATE DATABASE bench_big"
    psql_q -d bench_big -c "CREATE UNLOGGED TABLE big (id bigint, payload text)" \
        -c "INSERT INTO big SELECT g, repeat(md5(g::text) || md5((g + 1)::text), 15)
                              || md5((g * 7)::text) FROM generate_series(1, $rows) g" \
        -c "VACUUM (FREEZE) big" -c "CHECKPOINT" \
        -c "COMMENT ON DATABASE bench_big IS '$marker'"
fi
echo "bench_big: $(psql_q -d bench_big -Atc "SELECT pg_size_pretty(pg_total_relation_size('big'))")" >&2
if [ "$build" = 1 ]; then
    (cd "$root" && cargo build --release -q -p dump)
fi
rdump=${RDUMP:-$root/target/release/rdump}
work=${BENCH_WORK:-/tmp/rdump-bench/work}
mkdir -p "$work"

header="| table | codec | -j | seconds | archive MB | rdump max RSS MB |"
rows=()
for z in none zstd:1 gzip:6 lz4; do
    rm -rf "$work/big"
    t0=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/time" "$rdump" -j 8 -Z "$z" -f "$work/big" bench_big
    t1=$(date +%s.%N)
    rows+=("$(printf "| %s | %s | 8 | %.1f | %.0f | %.0f |" \
        "$(psql_q -d bench_big -Atc "SELECT pg_size_pretty(pg_total_relation_size('big'))")" "$z" \
        "$(echo "$t1 - $t0" | bc)" "$(echo "$(du -sb "$work/big" | cut -f1) / 1000000" | bc -l)" \
        "$(echo "$(cat "$work/time") / 1024" | bc -l)")")
    echo "${rows[-1]}"
    rm -rf "$work/big"
done
if [ -n "$out" ]; then
    {
        echo "## Peak memory, rdump -j 8 on one large table ($(date -u +%Y-%m-%d))"
        echo
        echo "Command: \`bench/memory.sh --size-gb $size_gb --out $out\`. Max RSS from /usr/bin/time."
        echo
        echo "$header"
        echo "|---|---|---|---|---|---|"
        printf '%s\n' "${rows[@]}"
        echo
    } >>"$out"
fi
