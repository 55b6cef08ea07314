#!/usr/bin/env bash
# Where a restore's time goes: runs one command (rrestore, pg_restore, limit.sh run …)
# against the cluster named by PGHOST/PGPORT/PGUSER and reports
#   - its wall time and its own CPU (user + system, the client's work);
#   - the server's CPU over the same time (the postmaster's children, those that ended
#     during the run included: the postmaster collects their times when it reaps them);
#   - what the server's sessions of database DB were doing, sampled every SAMPLE_MS
#     (default 100) from pg_stat_activity: running on CPU, or waiting and on what.
#
#   bench/restore/profile.sh DB COMMAND [ARG...]
set -euo pipefail

db=$1
shift
bindir=${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
sample_ms=${SAMPLE_MS:-100}
hz=$(getconf CLK_TCK)

data_dir=$("$bindir/psql" -X -Atc "SHOW data_directory" -d postgres)
postmaster=$(head -1 "$data_dir/postmaster.pid")

# The server's CPU ticks so far: the postmaster's own and its reaped children's, plus
# those of the children alive now.
server_ticks() {
    local total p
    total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$postmaster/stat")
    for p in $(pgrep -P "$postmaster"); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

samples=$(mktemp)
cpu=$(mktemp)
trap 'rm -f "$samples" "$cpu"' EXIT

s0=$(server_ticks)
t0=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$cpu" "$@" >/dev/null &
pid=$!
# One line per busy session per sample: on CPU, or the wait event.
while kill -0 "$pid" 2>/dev/null; do
    "$bindir/psql" -X -At -d postgres -c "
        SELECT CASE WHEN wait_event IS NULL THEN 'CPU' ELSE wait_event_type || ':' || wait_event END
          FROM pg_catalog.pg_stat_activity
         WHERE datname = '$db' AND state = 'active' AND pid <> pg_catalog.pg_backend_pid()" \
        >>"$samples" 2>/dev/null || true
    sleep "$(echo "$sample_ms" | awk '{print $1 / 1000}')"
done
wait "$pid"
t1=$(date +%s.%N)
# Sessions end a moment after their client; let the postmaster reap them.
sleep 0.2
s1=$(server_ticks)

wall=$(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')
client=$(awk '{printf "%.2f", $1 + $2}' "$cpu")
server=$(echo "$s0 $s1 $hz" | awk '{printf "%.2f", ($2 - $1) / $3}')
echo "wall $wall s; client CPU $client s; server CPU $server s; cores $(nproc)"
echo "server sessions, sampled every $sample_ms ms (share of session-samples):"
sort "$samples" | uniq -c | sort -rn | awk '{n[NR] = $1; w[NR] = $2; t += $1}
    END {for (i = 1; i <= NR; i++) printf "  %5.1f%%  %s\n", 100 * n[i] / t, w[i]}'
