#!/usr/bin/env bash
# A PostgreSQL cluster for benchmarks: ordinary durable settings (fsync on, unlike the
# test harness), a private socket directory, trust authentication for local sockets.
#
#   bench/cluster.sh start [DIR]   initdb if needed, then start; prints the env to use
#   bench/cluster.sh stop  [DIR]
#   bench/cluster.sh env   [DIR]   prints `export PGHOST=... PGPORT=... PGUSER=...`
#
# DIR defaults to $BENCH_CLUSTER or /tmp/rdump-bench/cluster. The port is $BENCH_PORT
# or 54329. Under root the server runs as the unprivileged `postgres` system user
# (initdb refuses root); clients connect as role `postgres` over the socket.
set -euo pipefail

cmd=${1:-}
dir=${2:-${BENCH_CLUSTER:-/tmp/rdump-bench/cluster}}
port=${BENCH_PORT:-54329}
bindir=${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
data=$dir/data
sock=$dir/sock

as_server() {
    if [ "$(id -u)" = 0 ]; then
        # runuser keeps our environment minimal and needs no password.
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

print_env() {
    echo "export PGHOST=$sock PGPORT=$port PGUSER=postgres PG_BINDIR=$bindir BENCH_CLUSTER=$dir"
}

case $cmd in
start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    if [ ! -s "$data/PG_VERSION" ]; then
        as_server "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 \
            --locale=C.UTF-8 >"$dir/initdb.log"
        # Moderate, typical settings for a 2-4 core machine with a few GB of memory;
        # durability left at its defaults so the server works as it would in production.
        cat >>"$data/postgresql.conf" <<EOF
listen_addresses = ''
port = $port
unix_socket_directories = '$sock'
shared_buffers = 1GB
maintenance_work_mem = 512MB
max_wal_size = 8GB
max_connections = 100
log_min_messages = warning
EOF
        as_server mkdir -p "$sock"
    fi
    if ! as_server "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        as_server "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w start >/dev/null
    fi
    print_env
    ;;
stop)
    as_server "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    ;;
env)
    print_env
    ;;
*)
    echo "usage: $0 start|stop|env [DIR]" >&2
    exit 2
    ;;
esac
