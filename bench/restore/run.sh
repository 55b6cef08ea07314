#!/usr/bin/env bash
# rrestore of rdump's archive against pg_restore of pg_dump's archive of the same database,
# into empty databases on the same server, with -j 1, 2 and 4, runs alternating between the
# tools (the first rotates from run to run). Prints each time, the medians and the ratio
# pg_restore time / rrestore time as a Markdown table.
#
# In the same rotation, the limit (bench/restore/limit.sh): the same restore's server work
# done with nothing of a client's in the way, from uncompressed server-side files, in
# each of limit.sh's strategies (at -j 1 only `whole`); the floor is the fastest
# strategy's median. The limit rrestore is judged against adds what rrestore's own process
# needs (reading, checking and decompressing, its user + system CPU time) where it cannot
# overlap with the server's: limit = max(floor, (machine CPU during the floor + rrestore's
# CPU) / cores).
#
#   bench/restore/run.sh [DATASET...]        DATASET: pgbench, mixed, wide (default: all)
#
# Environment:
#   RUNS=3              runs per tool, dataset and -j
#   JOBS="1 2 4"        the -j values
#   RDUMP_COMPRESS      rdump -Z (default: rdump's default, zstd:1)
#   PGDUMP_COMPRESS     pg_dump -Z (default: pg_dump's default, gzip level 6)
#   BENCH_CLUSTER, BENCH_PORT   the cluster (default /tmp/rrestore-bench/cluster, 54349);
#                       see bench/cluster.sh. The datasets are built by bench/datasets.sh
#                       once and reused.
#   RESTORE_ARGS        extra rrestore arguments
#   LIMIT=0             leave the limit out
#   NICE=-10            run the server and both tools at this niceness (root only), so that
#                       other work on the machine disturbs the comparison less
#   FSYNC=off           run with fsync off (ALTER SYSTEM, reset at the end); default: the
#                       cluster's setting (on)
#
# Both archives are made once per dataset (rdump -j 2, pg_dump -Fd -j 2) and kept in
# $BENCH_CLUSTER/../archives. Before each timed restore the target database is created
# empty and the server checkpoints, so no run pays for another's dirty pages.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export BENCH_CLUSTER=${BENCH_CLUSTER:-/tmp/rrestore-bench/cluster}
export BENCH_PORT=${BENCH_PORT:-54349}
runs=${RUNS:-3}
jobs_list=${JOBS:-1 2 4}
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(pgbench mixed wide)
archives=$(dirname "$BENCH_CLUSTER")/archives

eval "$("$here/../cluster.sh" start)"
bindir=$PG_BINDIR
nice_cmd=()
if [ -n "${NICE:-}" ]; then
    # The postmaster's children inherit its niceness; the ones already running are reniced.
    pm=$(head -1 "$BENCH_CLUSTER/data/postmaster.pid")
    renice -n "$NICE" -p "$pm" $(pgrep -P "$pm") >/dev/null
    nice_cmd=(nice -n "$NICE")
fi
psql_q() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
if [ -n "${FSYNC:-}" ]; then
    psql_q -d postgres -c "ALTER SYSTEM SET fsync = ${FSYNC}" -c "SELECT pg_catalog.pg_reload_conf()" >/dev/null
    trap 'psql_q -d postgres -c "ALTER SYSTEM RESET fsync" -c "SELECT pg_catalog.pg_reload_conf()" >/dev/null' EXIT
fi
echo "server $(psql_q -d postgres -Atc "SELECT pg_catalog.version()" | cut -d' ' -f1-2), fsync $(psql_q -d postgres -Atc "SHOW fsync")" >&2

echo "building rrestore and rdump (release)..." >&2
(cd "$root" && cargo build --release -q -p restore)
rrestore=$root/target/release/rrestore
# rdump only makes the archives (once per dataset); RDUMP_BIN may name a build of your choice.
rdump=${RDUMP_BIN:-$root/target/release/rdump}
if [ -z "${RDUMP_BIN:-}" ] && ! (cd "$root" && cargo build --release -q -p dump); then
    [ -x "$rdump" ] || { echo "rdump does not build and no earlier build exists" >&2; exit 2; }
    echo "warning: rdump does not build; using the existing $rdump" >&2
fi

"$here/../datasets.sh" build "${datasets[@]}" >&2
mkdir -p "$archives"

# Seconds (3 decimals) that "$@" takes; fails if the command fails.
timed() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>"$archives/last.err" || {
        echo "failed: $*" >&2
        cat "$archives/last.err" >&2
        return 1
    }
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}

fresh_db() {
    psql_q -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" -c "CHECKPOINT"
}

# Like timed, for rrestore: also appends its user + system CPU seconds to $cpu_file.
timed_cpu() {
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$archives/last.cpu" "$@" >/dev/null 2>"$archives/last.err" || {
        echo "failed: $*" >&2
        cat "$archives/last.err" >&2
        return 1
    }
    t1=$(date +%s.%N)
    awk '{printf "%.2f\n", $1 + $2}' "$archives/last.cpu" >>"$cpu_file"
    echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}

cores=$(nproc)
cpu_file=$(mktemp)
with_limit=${LIMIT:-1}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "| dataset | -j | pg_restore s (median) | rrestore s (median) | ratio | floor s (strategy) | rrestore CPU s | limit s | rrestore / limit | runs pg_restore | runs rrestore | runs floor (each strategy) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for ds in "${datasets[@]}"; do
    db=$("$here/../datasets.sh" db "$ds")
    ra=$archives/$ds.rdump
    pa=$archives/$ds.pgdump
    if [ ! -f "$ra/toc.json" ]; then
        rm -rf "$ra"
        "$rdump" -j 2 ${RDUMP_COMPRESS:+-Z "$RDUMP_COMPRESS"} -f "$ra" "$db"
    fi
    if [ ! -f "$pa/toc.dat" ]; then
        rm -rf "$pa"
        "$bindir/pg_dump" -Fd -j 2 ${PGDUMP_COMPRESS:+-Z "$PGDUMP_COMPRESS"} -f "$pa" "$db"
    fi
    la=$archives/$ds.limit
    for j in $jobs_list; do
        tools=(pg rr)
        strategies=()
        if [ "$with_limit" = 1 ]; then
            [ -f "$la/fkeys" ] && [ "$(awk -F'\t' 'NR == 1 {print NF}' "$la/indexes")" = 3 ] ||
                "$here/limit.sh" prepare "$db" "$la"
            strategies=(whole)
            [ "$j" -gt 1 ] && strategies+=(split overlap)
            for s in "${strategies[@]}"; do tools+=("lim:$s"); done
        fi
        pg_times=() rr_times=()
        declare -A floor_times=() floor_cpus=()
        : >"$cpu_file"
        for run in $(seq 1 "$runs"); do
            # Rotate who goes first.
            order=("${tools[@]:$(((run - 1) % ${#tools[@]}))}" "${tools[@]:0:$(((run - 1) % ${#tools[@]}))}")
            for tool in "${order[@]}"; do
                fresh_db restore_target
                case $tool in
                pg) pg_times+=("$(timed "${nice_cmd[@]}" "$bindir/pg_restore" -j "$j" -d restore_target "$pa")") ;;
                # shellcheck disable=SC2086
                rr) rr_times+=("$(timed_cpu "${nice_cmd[@]}" "$rrestore" -j "$j" ${RESTORE_ARGS:-} -d restore_target "$ra")") ;;
                lim:*)
                    s=${tool#lim:}
                    read -r total _ _ _ _ _ cpu < <("${nice_cmd[@]}" "$here/limit.sh" run "$la" restore_target "$j" "$s")
                    floor_times[$s]+="$total "
                    floor_cpus[$s]+="$cpu "
                    ;;
                esac
            done
        done
        pg_med=$(echo "${pg_times[*]}" | median)
        rr_med=$(echo "${rr_times[*]}" | median)
        ratio=$(echo "$pg_med $rr_med" | awk '{printf "%.2f", $1 / $2}')
        rr_cpu=$(tr '\n' ' ' <"$cpu_file" | median)
        if [ "$with_limit" = 1 ]; then
            floor= floor_cpu= best= floor_runs=
            for s in "${strategies[@]}"; do
                m=$(echo "${floor_times[$s]}" | median)
                floor_runs+="$s: ${floor_times[$s]}; "
                if [ -z "$floor" ] || awk -v a="$m" -v b="$floor" 'BEGIN {exit !(a < b)}'; then
                    floor=$m best=$s floor_cpu=$(echo "${floor_cpus[$s]}" | median)
                fi
            done
            limit=$(echo "$floor $floor_cpu $rr_cpu $cores" | awk '{l = ($2 + $3) / $4; printf "%.3f", (l > $1) ? l : $1}')
            of_limit=$(echo "$rr_med $limit" | awk '{printf "%.2f", $1 / $2}')
            floor="$floor ($best)"
        else
            floor=- limit=- of_limit=- floor_runs=-
        fi
        echo "| $ds | $j | $pg_med | $rr_med | $ratio | $floor | $rr_cpu | $limit | $of_limit | ${pg_times[*]} | ${rr_times[*]} | $floor_runs |"
        unset floor_times floor_cpus
    done
done
psql_q -d postgres -c "DROP DATABASE IF EXISTS restore_target"
rm -f "$cpu_file"
