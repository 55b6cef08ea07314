#!/usr/bin/env bash
# Schema-only dump of a database with 10,000 tables: rdump -s against pg_dump -Fd -s, same
# server, alternating runs. What it measures is catalog reading: rdump reads the catalog
# in a fixed number of set-returning queries, pg_dump issues per-object queries.
#
#   bench/schema.sh [--runs N] [--out FILE] [--no-build]
#
# Uses the benchmark cluster (bench/cluster.sh) and the schema10k dataset
# (bench/datasets.sh). Both tools lock every table they dump in one transaction, so the
# server needs max_locks_per_transaction * max_connections above 10,000: raised to 256
# (and the server restarted) when lower. NICE=-10 as in bench/dump.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=5
out=
build=1
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift ;;
    --out) out=$2; shift ;;
    --no-build) build=0 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done

eval "$("$here/cluster.sh" start)"
bindir=$PG_BINDIR
psql_q() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
locks=$(psql_q -d postgres -Atc "SHOW max_locks_per_transaction")
if [ "$locks" -lt 256 ]; then
    echo "raising max_locks_per_transaction from $locks to 256 (restart)" >&2
    psql_q -d postgres -c "ALTER SYSTEM SET max_locks_per_transaction = 256"
    "$here/cluster.sh" stop
    eval "$("$here/cluster.sh" start)"
fi
nice_cmd=()
if [ -n "${NICE:-}" ]; then
    pm=$(head -1 "$BENCH_CLUSTER/data/postmaster.pid")
    # shellcheck disable=SC2046
    renice -n "$NICE" -p "$pm" $(pgrep -P "$pm") >/dev/null
    nice_cmd=(nice -n "$NICE")
fi
"$here/datasets.sh" build schema10k
db=$("$here/datasets.sh" db schema10k)
if [ "$build" = 1 ]; then
    (cd "$root" && cargo build --release -q -p dump)
fi
rdump=${RDUMP:-$root/target/release/rdump}
work=${BENCH_WORK:-/tmp/rdump-bench/work}
mkdir -p "$work"

# run TOOL -> appends "seconds cpu_seconds max_rss_kb" to $work/TOOL.schema.times
run_one() {
    local tool=$1 dir=$work/schema-$1
    rm -rf "$dir"
    local t0 t1
    t0=$(date +%s.%N)
    if [ "$tool" = rdump ]; then
        "${nice_cmd[@]}" /usr/bin/time -f "%U %S %M" -o "$work/time" "$rdump" -s -f "$dir" "$db"
    else
        "${nice_cmd[@]}" /usr/bin/time -f "%U %S %M" -o "$work/time" "$bindir/pg_dump" -Fd -s -f "$dir" "$db"
    fi
    t1=$(date +%s.%N)
    local user sys rss
    read -r user sys rss <"$work/time"
    echo "$(echo "$t1 - $t0" | bc) $(echo "$user + $sys" | bc) $rss" >>"$work/$tool.schema.times"
    rm -rf "$dir"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v c="$1" '{print $c}' "$2"; }

rm -f "$work/rdump.schema.times" "$work/pg_dump.schema.times"
run_one rdump # warm the catalog caches
rm -f "$work/rdump.schema.times"
for ((r = 0; r < runs; r++)); do
    if ((r % 2 == 0)); then run_one rdump; run_one pg_dump; else run_one pg_dump; run_one rdump; fi
done
rt=$(col 1 "$work/rdump.schema.times" | median)
pt=$(col 1 "$work/pg_dump.schema.times" | median)
rc=$(col 2 "$work/rdump.schema.times" | median)
pc=$(col 2 "$work/pg_dump.schema.times" | median)
rm_=$(col 3 "$work/rdump.schema.times" | sort -g | tail -1)
pm_=$(col 3 "$work/pg_dump.schema.times" | sort -g | tail -1)
header="| database | rdump -s s | pg_dump -Fd -s s | ratio | rdump client CPU s | pg_dump client CPU s | rdump max RSS MB | pg_dump max RSS MB |"
row=$(printf "| 10,000 tables | %.2f | %.2f | **%.2f** | %.2f | %.2f | %.0f | %.0f |" "$rt" "$pt" \
    "$(echo "$pt / $rt" | bc -l)" "$rc" "$pc" "$(echo "$rm_ / 1024" | bc -l)" "$(echo "$pm_ / 1024" | bc -l)")
printf '%s\n|---|---|---|---|---|---|---|---|\n%s\n' "$header" "$row"
if [ -n "$out" ]; then
    {
        echo "## Schema-only dump, 10,000 tables ($(date -u +%Y-%m-%d))"
        echo
        echo "Command: \`bench/schema.sh --runs $runs --out $out\`${NICE:+ with NICE=$NICE}"
        echo
        echo "Machine: $(nproc) cores; $("$bindir/postgres" --version); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). Median of $runs alternating runs."
        echo
        printf '%s\n|---|---|---|---|---|---|---|---|\n%s\n\n' "$header" "$row"
    } >>"$out"
fi
