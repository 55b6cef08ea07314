#!/usr/bin/env bash
# rbackup against pgBackRest and pg_basebackup: full backup and restore of one pgbench
# cluster, same machine, same compression (zstd, same level), same parallelism, runs
# alternating between the tools. Prints medians, ratios (anchor time / rbackup time) and
# repository sizes, and writes them to bench/RESULTS-rbackup.md.
#
#   bench/rbackup/run.sh [RUNS]
#
# Environment: SCALE (pgbench scale, default 50), JOBS (default 2), LEVEL (zstd level,
# default 3), BENCH_DIR (default /tmp/rbackup-bench; removed and rebuilt), BENCH_PORT
# (default 54339), NICE=-10 runs the server and the tools at that niceness (root only) so
# other work on the machine disturbs the comparison less, KEEP=1 keeps the cluster and
# repositories afterwards.
# Needs: PostgreSQL server binaries (pg_config --bindir), pgbackrest
# (apt-get install -y pgbackrest), zstd, cargo. Runs the servers and the tools as the
# `postgres` system user when started as root.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-${RUNS:-3}}
scale=${SCALE:-50}
jobs=${JOBS:-2}
level=${LEVEL:-3}
dir=${BENCH_DIR:-/tmp/rbackup-bench}
port=${BENCH_PORT:-54339}
bindir=${PG_BINDIR:-$(pg_config --bindir)}
data=$dir/data
sock=$dir/sock
conf=$dir/pgbackrest.conf
log=$dir/bench.log

for tool in pgbackrest zstd tar cargo python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (pgbackrest: apt-get install -y pgbackrest)" >&2; exit 2; }
done

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
as_pg_cmd() { as_pg "$@"; }
export -f as_pg as_pg_cmd

echo "building rbackup (release)..." >&2
(cd "$root" && cargo build --release -p physical -q)
# A copy the postgres user can run wherever the checkout lives.
mkdir -p "$dir.bin"
cp "$root/target/release/rbackup" "$dir.bin/rbackup"
chmod 755 "$dir.bin" "$dir.bin/rbackup"
rbackup=$dir.bin/rbackup

stop_cluster() {
    if [ -f "$data/postmaster.pid" ]; then
        as_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}
trap stop_cluster EXIT
stop_cluster
rm -rf "$dir"
mkdir -p "$dir" "$sock" "$dir/lock" "$dir/pgbr-repo"
[ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
: >"$log"

echo "initdb + pgbench -i -s $scale..." >&2
as_pg "$bindir/initdb" -D "$data" -U postgres -A trust --data-checksums >>"$log"
cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
port = $port
unix_socket_directories = '$sock'
shared_buffers = 512MB
max_wal_size = 8GB
wal_level = replica
archive_mode = on
archive_command = 'pgbackrest --config=$conf --stanza=bench archive-push %p'
CONF
as_pg tee "$conf" >/dev/null <<CONF
[global]
repo1-path=$dir/pgbr-repo
repo1-retention-full=9999
lock-path=$dir/lock
log-path=$dir
log-level-console=warn
log-level-file=off
compress-type=zst
compress-level=$level
process-max=$jobs
start-fast=y

[bench]
pg1-path=$data
pg1-socket-path=$sock
pg1-port=$port
CONF
as_pg "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w start >/dev/null
nice_cmd=()
if [ -n "${NICE:-}" ]; then
    # The postmaster's children inherit its niceness; the ones already running are reniced.
    pm=$(head -1 "$data/postmaster.pid")
    # shellcheck disable=SC2046
    renice -n "$NICE" -p "$pm" $(pgrep -P "$pm") >/dev/null
    nice_cmd=(nice -n "$NICE")
fi
psql_() { as_pg "$bindir/psql" -X -q -A -t -h "$sock" -p "$port" -U postgres -d postgres -c "$1"; }
as_pg "$bindir/pgbench" -h "$sock" -p "$port" -U postgres -i -s "$scale" -q postgres >>"$log" 2>&1
psql_ "VACUUM ANALYZE" >/dev/null
as_pg pgbackrest --config="$conf" --stanza=bench stanza-create >>"$log" 2>&1
db_size=$(psql_ "SELECT pg_database_size('postgres')")
as_pg mkdir -p "$dir/rb-repo"

now() { date +%s.%N; }
# Times one command (run as postgres); appends "tool phase seconds" to the results.
timed() {
    local name=$1; shift
    psql_ "CHECKPOINT" >/dev/null
    local t0 t1
    t0=$(now)
    # CPU seconds (user + system) of the tool and every process it waited for; the
    # server's own work (checkpoint, walsender) is not in it.
    if ! /usr/bin/time -f "%U %S" -o "$dir/cpu" "${nice_cmd[@]}" bash -c "$(printf '%q ' as_pg_cmd "$@")" >>"$log" 2>&1; then
        echo "$name failed; see $log" >&2
        tail -20 "$log" >&2
        exit 1
    fi
    t1=$(now)
    cpu=$(awk '{print $1 + $2}' "$dir/cpu")
    echo "$name $(python3 -c "print(f'{$t1 - $t0:.3f}')") $cpu" >>"$dir/times"
    echo "  $name $(python3 -c "print(f'{$t1 - $t0:.2f}')") s, cpu $cpu s" >&2
}

backup_rbackup() {
    timed rbackup-backup "$rbackup" backup --repo "$dir/rb-repo" --pgdata "$data" \
        -h "$sock" -p "$port" -U postgres -j "$jobs" --compress "zstd:$level" --fast
}
backup_pgbackrest() {
    timed pgbackrest-backup pgbackrest --config="$conf" --stanza=bench --type=full backup
}
backup_basebackup() {
    as_pg rm -rf "$dir/pgbb"
    timed pg_basebackup-backup "$bindir/pg_basebackup" -h "$sock" -p "$port" -U postgres \
        -D "$dir/pgbb" -Ft -X stream -c fast --compress="client-zstd:$level" --no-manifest
}
restore_rbackup() {
    as_pg rm -rf "$dir/restore"
    timed rbackup-restore "$rbackup" restore --repo "$dir/rb-repo" --pgdata "$dir/restore" -j "$jobs"
}
restore_pgbackrest() {
    as_pg rm -rf "$dir/restore"
    as_pg mkdir -m 700 "$dir/restore"
    timed pgbackrest-restore pgbackrest --config="$conf" --stanza=bench \
        --pg1-path="$dir/restore" restore
}
restore_basebackup() {
    as_pg rm -rf "$dir/restore"
    as_pg mkdir -m 700 "$dir/restore"
    # PostgreSQL 15 compresses base.tar only; later versions may compress pg_wal.tar too.
    timed pg_basebackup-restore bash -c "zstd -q -d -c '$dir/pgbb/base.tar.zst' | tar -x -C '$dir/restore' \
        && if [ -f '$dir/pgbb/pg_wal.tar.zst' ]; then zstd -q -d -c '$dir/pgbb/pg_wal.tar.zst'; \
           else cat '$dir/pgbb/pg_wal.tar'; fi | tar -x -C '$dir/restore/pg_wal'"
}

: >"$dir/times"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
tools=(rbackup pgbackrest basebackup)
for ((run = 1; run <= runs; run++)); do
    echo "run $run/$runs" >&2
    # Rotate the order each run so no tool always goes first.
    for ((k = 0; k < 3; k++)); do
        t=${tools[$(((run + k) % 3))]}
        "backup_$t"
    done
    for ((k = 0; k < 3; k++)); do
        t=${tools[$(((run + k) % 3))]}
        "restore_$t"
    done
done
as_pg rm -rf "$dir/restore"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# Repository sizes of the last backup of each tool.
rb_label=$(ls "$dir/rb-repo/backups" | sort | tail -1)
rb_size=$(du -sb "$dir/rb-repo/backups/$rb_label" | cut -f1)
br_label=$(ls -d "$dir/pgbr-repo/backup/bench/"*F | sort | tail -1)
br_size=$(du -sb "$br_label" | cut -f1)
bb_size=$(du -sb "$dir/pgbb" | cut -f1)

report=$(python3 - "$dir/times" "$db_size" "$rb_size" "$br_size" "$bb_size" <<'PY'
import statistics, sys
times, db, rb, br, bb = sys.argv[1], *map(int, sys.argv[2:])
runs, cpus = {}, {}
for line in open(times):
    name, secs, cpu = line.split()
    runs.setdefault(name, []).append(float(secs))
    cpus.setdefault(name, []).append(float(cpu))
med = {k: statistics.median(v) for k, v in runs.items()}
cpu = {k: statistics.median(v) for k, v in cpus.items()}
mib = lambda b: f"{b / 1048576:.1f} MiB"
out = []
out.append("| phase | rbackup | pgBackRest | pg_basebackup | pgBackRest / rbackup | pg_basebackup / rbackup |")
out.append("|---|---|---|---|---|---|")
for phase in ("backup", "restore"):
    r, p, b = med[f"rbackup-{phase}"], med[f"pgbackrest-{phase}"], med[f"pg_basebackup-{phase}"]
    out.append(f"| {phase} (median s) | {r:.2f} | {p:.2f} | {b:.2f} | **{p / r:.2f}** | {b / r:.2f} |")
out.append(f"| repository size | {mib(rb)} | {mib(br)} | {mib(bb)} | {br / rb:.2f} | {bb / rb:.2f} |")
for phase in ("backup", "restore"):
    r, p, b = cpu[f"rbackup-{phase}"], cpu[f"pgbackrest-{phase}"], cpu[f"pg_basebackup-{phase}"]
    out.append(f"| {phase} CPU, client side (median s) | {r:.2f} | {p:.2f} | {b:.2f} | {p / r:.2f} | {b / r:.2f} |")
out.append("")
out.append(f"Database size {mib(db)}. All runs (seconds):")
out.append("")
for k in sorted(runs):
    out.append(f"- {k}: " + ", ".join(f"{s:.2f}" for s in runs[k])
               + " (CPU " + ", ".join(f"{c:.2f}" for c in cpus[k]) + ")")
print("\n".join(out))
PY
)
echo "$report"

{
    echo "# rbackup benchmark"
    echo
    echo "Full backup and restore of one \`pgbench -i -s $scale\` cluster (data checksums on), $runs runs per tool,"
    echo "alternating tools each run; every tool at zstd level $level with $jobs parallel workers"
    echo "(pgBackRest \`process-max=$jobs\`, \`start-fast=y\`; pg_basebackup \`-Ft -X stream -c fast --compress=client-zstd:$level\`,"
    echo "restored with \`zstd -d | tar -x\`; rbackup \`backup -j $jobs --compress zstd:$level --fast\`, \`restore -j $jobs\`)."
    echo "Times are wall-clock medians; ratios are anchor time / rbackup time (higher is better for rbackup)."
    echo
    echo "Command: \`${NICE:+NICE=$NICE }SCALE=$scale JOBS=$jobs LEVEL=$level bench/rbackup/run.sh $runs\`"
    echo
    echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB RAM; $("$bindir/postgres" --version); $(pgbackrest version); date $(date -u +%Y-%m-%d)."
    echo "Load average (1, 5, 15 min) before the runs: $load_before; after: $load_after (other work shares these cores: CPU-bound phases stretch with it)."
    echo
    echo "$report"
} >"$root/bench/RESULTS-rbackup.md"
echo "wrote bench/RESULTS-rbackup.md" >&2

if [ "${KEEP:-0}" != 1 ]; then
    stop_cluster
    rm -rf "$dir" "$dir.bin"
fi
