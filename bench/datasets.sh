#!/usr/bin/env bash
# Builds the benchmark databases on the cluster named by PGHOST/PGPORT/PGUSER
# (see bench/cluster.sh env).
#
#   bench/datasets.sh build NAME... [--force]   NAME: pgbench, mixed, wide, all
#   bench/datasets.sh db NAME                    prints the database name of NAME
#   bench/datasets.sh list
#
# Each dataset is one database, `bench_NAME`. A finished build is marked by a comment on
# the database, so an interrupted build is rebuilt and a finished one is reused (unless
# --force). Builds end with VACUUM (FREEZE, ANALYZE) and a CHECKPOINT so that the first
# dump after a build does not pay for hint bits the later ones do not.
#
# Datasets:
#   pgbench  pgbench -i -s ${BENCH_PGBENCH_SCALE:-50}: one dominant table (~640 MB heap)
#   mixed    300 tables of mixed sizes (1 row to ~400k rows, ~350 MB in all) in 3 schemas,
#            each with a primary key, 2 secondary indexes and a foreign key to one of
#            20 dimension tables
#   wide     one ~1 GB table of wide rows: jsonb, text (some TOASTed), numeric,
#            timestamptz, bytea, uuid, int/text/float arrays
#   small    pgbench -i -s 2: a database under 50 MB, as CI fixtures often are (bench/seed.sh;
#            built only when named)
#   schema10k  10,000 empty tables with keys, indexes, defaults, identity columns, some
#            comments, grants and views (schema-only dumps; built only when named)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bindir=${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
DATASETS=(pgbench mixed wide)
# Bump when a dataset's definition changes, so stale copies are rebuilt.
VERSION=1

psql_q() { PGOPTIONS="-c client_min_messages=warning" "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

marker() { echo "rdump bench dataset $1 v$VERSION"; }

is_built() {
    local got
    got=$(psql_q -d postgres -Atc "SELECT pg_catalog.shobj_description(oid, 'pg_database')
                                    FROM pg_database WHERE datname = 'bench_$1'")
    [ "$got" = "$(marker "$1")" ]
}

finish() {
    local db=bench_$1
    psql_q -d "$db" -c "VACUUM (FREEZE, ANALYZE)" -c "CHECKPOINT" \
        -c "COMMENT ON DATABASE $db IS '$(marker "$1")'"
}

build_pgbench() {
    "$bindir/pgbench" -i -q -s "${BENCH_PGBENCH_SCALE:-50}" --foreign-keys bench_pgbench
}

build_small() {
    "$bindir/pgbench" -i -q -s 2 --foreign-keys bench_small
}

build_mixed() {
    psql_q -d bench_mixed -f "$here/sql/mixed.sql"
}

build_schema10k() {
    psql_q -d bench_schema10k -f "$here/sql/schema10k.sql"
}
build_wide() {
    psql_q -d bench_wide -f "$here/sql/wide.sql"
}

build() {
    local name=$1 force=$2
    if [ "$force" = 0 ] && is_built "$name"; then
        echo "dataset $name: already built (bench_$name)"
        return
    fi
    echo "dataset $name: building bench_$name ..."
    local t0=$SECONDS
    psql_q -d postgres -c "DROP DATABASE IF EXISTS bench_$name" -c "CREATE DATABASE bench_$name"
    "build_$name"
    finish "$name"
    echo "dataset $name: built in $((SECONDS - t0)) s; $(psql_q -d postgres -Atc \
        "SELECT pg_size_pretty(pg_database_size('bench_$name'))")"
}

case ${1:-} in
build)
    shift
    force=0
    names=()
    for a in "$@"; do
        case $a in
        --force) force=1 ;;
        all) names+=("${DATASETS[@]}") ;;
        pgbench | mixed | wide | schema10k | small) names+=("$a") ;;
        *)
            echo "unknown dataset \"$a\" (known: ${DATASETS[*]}, all)" >&2
            exit 2
            ;;
        esac
    done
    [ ${#names[@]} -gt 0 ] || { echo "usage: $0 build NAME... [--force]" >&2; exit 2; }
    for n in "${names[@]}"; do build "$n" "$force"; done
    ;;
db) echo "bench_$2" ;;
list) printf '%s\n' "${DATASETS[@]}" ;;
*)
    echo "usage: $0 build NAME...|all [--force] | db NAME | list" >&2
    exit 2
    ;;
esac
