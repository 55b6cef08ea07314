#!/usr/bin/env bash
# Catalog fidelity against PostgreSQL's own regression database, which holds nearly every
# kind of object the server has: build it with pg_regress from the server's source, dump
# it with rdump -j 2, restore with rrestore -j 2 into a fresh database, and print the
# differences between pg_dump --schema-only of both (and the restore's errors).
#
#   bench/regression-db.sh [PGSRC]   PGSRC: an unpacked PostgreSQL source tree of the
#                                    server's major version; fetched with `apt-get source`
#                                    when not given (needs a deb-src line)
#
# Needs gcc and the server headers (postgresql-server-dev-NN) to build regress.so.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export BENCH_CLUSTER=${BENCH_CLUSTER:-/tmp/rdump-bench/regress-cluster}
export BENCH_PORT=${BENCH_PORT:-54391}
eval "$("$here/cluster.sh" start)"
bindir=$PG_BINDIR
major=$("$bindir/postgres" --version | sed -E 's/.* ([0-9]+)\..*/\1/')
work=${BENCH_WORK:-/tmp/rdump-bench/regress}
mkdir -p "$work"

src=${1:-}
if [ -z "$src" ]; then
    (cd "$work" && apt-get source --download-only -qq "postgresql-$major" >/dev/null)
    tarball=$(ls "$work"/postgresql-"$major"_*.orig.tar.* | head -1)
    tar -C "$work" -xf "$tarball" --wildcards '*/src/test/regress/*'
    src=$(ls -d "$work"/postgresql-"$major".*/ | head -1)
fi
regress=$src/src/test/regress
gcc -O1 -fPIC -shared -I"$("$bindir/pg_config" --includedir-server 2>/dev/null || echo "/usr/include/postgresql/$major/server")" \
    -o "$regress/regress.so" "$regress/regress.c"
chmod -R a+rX "$src"

psql_q() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
for db in regression regression_copy; do
    psql_q -d postgres -c "DROP DATABASE IF EXISTS $db"
done
psql_q -d postgres -c "CREATE DATABASE regression TEMPLATE template0"
out=$work/out
rm -rf "$out" && mkdir -p "$out" && chmod 777 "$out"
# The suite's own expected output does not matter here, only the objects it leaves.
(cd "$regress" && PGTZ=PST8PDT PGDATESTYLE="Postgres, MDY" \
    "$("$bindir/pg_config" --pgxs | xargs dirname)/../test/regress/pg_regress" \
    --use-existing --host="$PGHOST" --port="$PGPORT" --user=postgres --inputdir=. \
    --outputdir="$out" --bindir="$bindir" --dlpath=. --schedule=parallel_schedule \
    --dbname=regression >"$work/pg_regress.log" 2>&1) || true
grep -E "tests (passed|failed)" "$work/pg_regress.log" || true

[ -n "${RDUMP:-}" ] || (cd "$root" && cargo build --release -q -p dump -p restore)
rdump=${RDUMP:-$root/target/release/rdump}
rrestore=${RRESTORE:-$root/target/release/rrestore}
rm -rf "$work/archive"
"$rdump" -j 2 -Fd -f "$work/archive" regression 2>"$work/rdump.log"
psql_q -d postgres -c "CREATE DATABASE regression_copy TEMPLATE template0"
status=0
"$rrestore" -j 2 -d regression_copy "$work/archive" 2>"$work/rrestore.log" || status=$?
echo "rrestore exit status: $status"
grep -E "ERROR" "$work/rrestore.log" || true
"$bindir/pg_dump" -s regression | grep -v '^\\\(un\)\?restrict' >"$work/source.sql"
"$bindir/pg_dump" -s regression_copy | grep -v '^\\\(un\)\?restrict' >"$work/copy.sql"
if diff "$work/source.sql" "$work/copy.sql" >"$work/schema.diff"; then
    echo "pg_dump --schema-only: identical"
else
    echo "pg_dump --schema-only: $(grep -c '^[<>]' "$work/schema.diff") differing lines ($work/schema.diff)"
fi
