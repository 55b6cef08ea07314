#!/usr/bin/env bash
# rseed against what CI pipelines do today to get a database from an archive: `createdb` +
# `pg_restore -j 2` of pg_dump's archive, and `createdb` + `rrestore -j 2` of rdump's. Each
# dataset, server version and fsync setting, runs alternating between the four:
#
#   pg_restore   createdb X; pg_restore -j 2 -d X  (pg_dump -Fd -j 2 archive)
#   rrestore     createdb X; rrestore -j 2 -d X    (rdump -j 2 archive)
#   rseed cold   no template yet: rseed -j 2 -d X  (restore into a template, freeze,
#                analyze, then clone)
#   rseed warm   the template exists: rseed -d X
#
# Every time is a whole process tree, from start to exit, as a CI step would see it. X is
# dropped (and the server checkpoints) between runs, outside the timings. Prints medians
# and ratios as Markdown; then the copy strategies side by side on each warm template
# (how the size threshold in seed/src/clone.rs was chosen).
#
#   bench/seed.sh [DATASET...]     DATASET: small (< 50 MB), pgbench (scale 50), mixed
#                                  (default: all three)
# Environment:
#   RUNS=5            runs per tool and cell (warm rseed runs 3x as many: it is short)
#   SERVERS="15 18"   15: the system's PostgreSQL; 18: $PG18_BINDIR (scripts/install-pg-versions.sh)
#   FSYNC="off on"    the server's fsync in each cell (CI servers usually run with it off)
#   NICE=-10          run server and tools at this niceness (root only); the output says so
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=${RUNS:-5}
servers=${SERVERS:-15 18}
fsyncs=${FSYNC:-off on}
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(small pgbench mixed)

echo "building rdump, rrestore, rseed (release)..." >&2
(cd "$root" && cargo build --release -q -p dump -p restore -p rseed)
rdump=$root/target/release/rdump
rrestore=$root/target/release/rrestore
rseed=$root/target/release/rseed

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }

server_bindir() {
    case $1 in
    15) pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin ;;
    18)
        [ -n "${PG18_BINDIR:-}" ] || eval "$(bash "$root/scripts/install-pg-versions.sh")"
        echo "$PG18_BINDIR"
        ;;
    *) echo "unknown server $1 (15 or 18)" >&2; exit 2 ;;
    esac
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)${NICE:+; NICE=$NICE}"
echo
results=()
strategy_rows=()
for v in $servers; do
    export PG_BINDIR BENCH_CLUSTER=/tmp/rseed-bench/pg$v BENCH_PORT=$((54360 + v))
    PG_BINDIR=$(server_bindir "$v")
    eval "$("$here/cluster.sh" start)"
    bindir=$PG_BINDIR
    nice_cmd=()
    if [ -n "${NICE:-}" ]; then
        pm=$(head -1 "$BENCH_CLUSTER/data/postmaster.pid")
        renice -n "$NICE" -p "$pm" $(pgrep -P "$pm") >/dev/null
        nice_cmd=(nice -n "$NICE")
    fi
    psql_q() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
    archives=$BENCH_CLUSTER/../archives-$v
    mkdir -p "$archives"
    "$here/datasets.sh" build "${datasets[@]}" >&2

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
    # The target goes, and the server writes what it has dirty, before every timed run.
    reset() {
        psql_q -d postgres -c "DROP DATABASE IF EXISTS seed_target" -c "CHECKPOINT"
    }
    drop_templates() { "$rseed" --prune >/dev/null; }

    for f in $fsyncs; do
        psql_q -d postgres -c "ALTER SYSTEM SET fsync = $f" -c "SELECT pg_reload_conf()" >/dev/null
        for ds in "${datasets[@]}"; do
            db=$("$here/datasets.sh" db "$ds")
            ra=$archives/$ds.rdump pa=$archives/$ds.pgdump
            [ -f "$ra/toc.json" ] || { rm -rf "$ra"; "$rdump" -j 2 -Fd -f "$ra" "$db"; }
            [ -f "$pa/toc.dat" ] || { rm -rf "$pa"; "$bindir/pg_dump" -Fd -j 2 -f "$pa" "$db"; }
            size=$(psql_q -d postgres -Atc "SELECT pg_size_pretty(pg_database_size('$db'))")
            pg=() rr=() cold=() warm=()
            for run in $(seq 1 "$runs"); do
                order=(pg rr cold warm)
                [ $((run % 2)) = 0 ] && order=(warm cold rr pg)
                for tool in "${order[@]}"; do
                    reset
                    case $tool in
                    pg) pg+=("$(timed "${nice_cmd[@]}" sh -c "'$bindir/createdb' seed_target && '$bindir/pg_restore' -j 2 -d seed_target '$pa'")") ;;
                    rr) rr+=("$(timed "${nice_cmd[@]}" sh -c "'$bindir/createdb' seed_target && '$rrestore' -j 2 -d seed_target '$ra'")") ;;
                    cold)
                        drop_templates
                        psql_q -d postgres -c "CHECKPOINT"
                        cold+=("$(timed "${nice_cmd[@]}" "$rseed" -j 2 -d seed_target "$ra")")
                        ;;
                    warm)
                        "$rseed" -j 2 -d seed_warmup --replace "$ra" >/dev/null
                        psql_q -d postgres -c "DROP DATABASE seed_warmup" -c "CHECKPOINT"
                        for _ in 1 2 3; do
                            reset
                            warm+=("$(timed "${nice_cmd[@]}" "$rseed" -d seed_target "$ra")")
                        done
                        ;;
                    esac
                done
            done
            pg_m=$(echo "${pg[*]}" | median) rr_m=$(echo "${rr[*]}" | median)
            cold_m=$(echo "${cold[*]}" | median) warm_m=$(echo "${warm[*]}" | median)
            results+=("| $ds ($size) | $v | $f | $pg_m | $rr_m | $cold_m | $warm_m | $(ratio "$pg_m" "$warm_m") | $(ratio "$cold_m" "$rr_m") |")
            echo "raw $ds pg$v fsync=$f: pg_restore ${pg[*]} | rrestore ${rr[*]} | cold ${cold[*]} | warm ${warm[*]}" >&2

            # Every strategy the server has, on the warm template.
            strategies=(wal-log file-copy)
            [ "$v" -ge 18 ] && strategies+=(clone)
            [ "$v" -ge 15 ] || strategies=(file-copy)
            cells=""
            for s in "${strategies[@]}"; do
                t=()
                for _ in $(seq 1 "$runs"); do
                    reset
                    t+=("$(timed "${nice_cmd[@]}" "$rseed" --strategy "$s" -d seed_target "$ra")")
                done
                cells="$cells $s $(echo "${t[*]}" | median) s;"
            done
            strategy_rows+=("| $ds ($size) | $v | $f |$cells |")
        done
    done
    reset
    drop_templates
    psql_q -d postgres -c "ALTER SYSTEM RESET fsync" -c "SELECT pg_reload_conf()" >/dev/null
done

echo "| dataset | server | fsync | createdb + pg_restore -j 2 s | createdb + rrestore -j 2 s | rseed cold s | rseed warm s | pg_restore / warm | cold / rrestore |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
echo
echo "Copy strategies, warm (medians of $runs):"
echo
echo "| dataset | server | fsync | strategies |"
echo "|---|---|---|---|"
printf '%s\n' "${strategy_rows[@]}"
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
