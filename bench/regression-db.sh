#!/usr/bin/env bash
# Catalog fidelity against PostgreSQL's own regression database, which holds nearly every
# kind of object the server has: build it with pg_regress from the server's source, dump
# it with rdump -j 2, restore with rrestore -j 2 into a fresh database, then compare both
# with pg_dump --schema-only and a digest of their contents (every table's rows, sequence
# states, large objects with owners, privileges and comments: tests/sql/data-digest.sql).
#
#   bench/regression-db.sh [PGSRC]   PGSRC: an unpacked PostgreSQL source tree of the
#                                    server's major version; fetched with `apt-get source`
#                                    when not given (needs a deb-src line; 18 is in sid)
#
#   PG_BINDIR        the server to test (default: the system's); e.g. PG_BINDIR=$PG18_BINDIR
#                    (the PostgreSQL 18.6 wheel, which has pg_regress and the headers)
#   PG_JUDGE_BINDIR  whose pg_dump judges (default: the server's own); pg_dump 18 reads
#                    every supported server
#   BENCH_REBUILD=1  build the regression database again even if the cluster has one
#
# Needs gcc and the server headers (postgresql-server-dev-NN, or the wheel's include/) to
# build regress.so. Exits 0 only when nothing differs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bindir=${PG_BINDIR:-$(pg_config --bindir)}
major=$("$bindir/postgres" --version | sed -E 's/.* ([0-9]+)\..*/\1/')
export PG_BINDIR=$bindir
export BENCH_CLUSTER=${BENCH_CLUSTER:-/tmp/rdump-bench/regress-$major-cluster}
export BENCH_PORT=${BENCH_PORT:-$((54370 + major))}
eval "$("$here/cluster.sh" start)"
judge=${PG_JUDGE_BINDIR:-$bindir}
work=${BENCH_WORK:-/tmp/rdump-bench/regress-$major}
mkdir -p "$work"
# The server's own psql, else the judge's (the npm servers ship none; a newer psql reads older servers).
clients=$bindir
[ -x "$clients/psql" ] || clients=$judge
psql_q() { "$clients/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

has_regression=$(psql_q -At -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'regression'")
if [ "${BENCH_REBUILD:-0}" = 1 ] || [ "$has_regression" = 0 ]; then
    src=${1:-}
    if [ -z "$src" ]; then
        (cd "$work" && apt-get source --download-only -qq "postgresql-$major" >/dev/null)
        tarball=$(ls "$work"/postgresql-"$major"_*.orig.tar.* | head -1)
        tar -C "$work" -xf "$tarball" --wildcards '*/src/test/regress/*'
        src=$(ls -d "$work"/postgresql-"$major".*/ | head -1)
    fi
    regress=$src/src/test/regress
    includes=$("$bindir/pg_config" --includedir-server 2>/dev/null || echo "/usr/include/postgresql/$major/server")
    gcc -O1 -fPIC -shared -I"$includes" -o "$regress/regress.so" "$regress/regress.c"
    chmod -R a+rX "$src"
    pg_regress=$(dirname "$("$bindir/pg_config" --pgxs)")/../test/regress/pg_regress
    psql_q -d postgres -c "DROP DATABASE IF EXISTS regression"
    psql_q -d postgres -c "CREATE DATABASE regression TEMPLATE template0"
    out=$work/out
    rm -rf "$out" && mkdir -p "$out" && chmod 777 "$out"
    # The suite's own expected output does not matter here, only the objects it leaves.
    (cd "$regress" && PGTZ=PST8PDT PGDATESTYLE="Postgres, MDY" \
        "$pg_regress" --use-existing --host="$PGHOST" --port="$PGPORT" --user=postgres \
        --inputdir=. --outputdir="$out" --bindir="$clients" --dlpath=. \
        --schedule=parallel_schedule --dbname=regression >"$work/pg_regress.log" 2>&1) || true
    grep -E "tests (passed|failed)|All [0-9]+ tests" "$work/pg_regress.log" || true
fi

[ -n "${RDUMP:-}" ] || (cd "$root" && cargo build --release -q -p dump -p restore)
target=${CARGO_TARGET_DIR:-$root/target}
rdump=${RDUMP:-$target/release/rdump}
rrestore=${RRESTORE:-$target/release/rrestore}
psql_q -d postgres -c "DROP DATABASE IF EXISTS regression_copy"
rm -rf "$work/archive"
"$rdump" -j 2 -Fd -f "$work/archive" regression 2>"$work/rdump.log"
psql_q -d postgres -c "CREATE DATABASE regression_copy TEMPLATE template0"
status=0
"$rrestore" -j 2 -d regression_copy "$work/archive" 2>"$work/rrestore.log" || status=$?
echo "PostgreSQL $major, judged by $("$judge/pg_dump" --version)"
echo "rrestore exit status: $status"
grep -E "ERROR|error" "$work/rrestore.log" || true

# The same normalisation as the test harness (tests/src/compare.rs): comment lines, which
# name versions, the \restrict lines, which carry a random key, and the pg_attver=N column
# option Debian 12's PostgreSQL 15 stores on every column, a new N in each database.
schema() {
    "$judge/pg_dump" -s -d "$1" | grep -v -e '^--' -e '^\\\(un\)\?restrict' |
        sed -E -e 's/(\(|, )pg_attver=[0-9]+/\1/; s/\(, /(/; s/, \)/)/' |
        grep -v -E 'ALTER COLUMN .* SET \(\);$' | cat -s
}
schema regression >"$work/source.sql"
schema regression_copy >"$work/copy.sql"
differing=0
if diff "$work/source.sql" "$work/copy.sql" >"$work/schema.diff"; then
    echo "pg_dump --schema-only: identical"
else
    n=$(grep -c '^[<>]' "$work/schema.diff")
    differing=$((differing + n))
    echo "pg_dump --schema-only: $n differing lines ($work/schema.diff)"
fi
# Rows by column name (see the digest script), and no materialized view contents: the
# suite leaves some stale (never refreshed after their inputs changed), and a restore,
# pg_restore's as ours, refreshes them from the restored inputs.
digest() {
    psql_q -At -v rows_by_name=1 -d "$1" -f "$root/tests/sql/data-digest.sql" | grep -v '^matview '
}
digest regression >"$work/source.data"
digest regression_copy >"$work/copy.data"
if diff "$work/source.data" "$work/copy.data" >"$work/data.diff"; then
    echo "data (rows, sequences, large objects): identical"
else
    n=$(grep -c '^[<>]' "$work/data.diff")
    differing=$((differing + n))
    echo "data (rows, sequences, large objects): $n differing lines ($work/data.diff)"
fi
[ "$status" = 0 ] && [ "$differing" = 0 ]
