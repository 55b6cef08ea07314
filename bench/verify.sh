#!/usr/bin/env bash
# Round trip of the benchmark datasets: rdump -j 2 (default compression), rrestore -j 2 into a
# fresh database, then pg_dump --schema-only of both and every table's rows (sorted COPY
# output, hashed) compared. Prints one line per dataset; exits 1 on any difference.
#
#   bench/verify.sh [DATASET...]        default: every dataset of bench/datasets.sh list
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
eval "$("$here/cluster.sh" start)"
bindir=$PG_BINDIR
if [ $# -gt 0 ]; then datasets=("$@"); else mapfile -t datasets < <("$here/datasets.sh" list); fi
"$here/datasets.sh" build "${datasets[@]}" >&2
rdump=${RDUMP:-$root/target/release/rdump}
rrestore=${RRESTORE:-$root/target/release/rrestore}
[ -n "${RDUMP:-}" ] || (cd "$root" && cargo build --release -q -p dump)
[ -n "${RRESTORE:-}" ] || (cd "$root" && cargo build --release -q -p restore)
work=${BENCH_WORK:-/tmp/rdump-bench/work}
mkdir -p "$work"
psql_q() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

# Every table's rows, sorted, hashed: "schema.table md5".
rows_digest() {
    local db=$1
    psql_q -d "$db" -Atc "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
                           WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1" |
        while read -r t; do
            # An assignment, so a failing COPY stops the script (pipefail) instead of
            # hashing nothing on both sides.
            d=$(psql_q -d "$db" -c "COPY (SELECT * FROM $t AS r ORDER BY r::text) TO STDOUT" | md5sum)
            echo "$t ${d%% *}"
        done
}

status=0
for ds in "${datasets[@]}"; do
    db=$("$here/datasets.sh" db "$ds")
    copy=${db}_rt
    rm -rf "$work/verify"
    "$rdump" -j 2 -f "$work/verify" "$db"
    psql_q -d postgres -c "DROP DATABASE IF EXISTS $copy" -c "CREATE DATABASE $copy"
    "$rrestore" -j 2 -d "$copy" "$work/verify"
    rm -rf "$work/verify"
    "$bindir/pg_dump" --schema-only "$db" | grep -v '^\\\(un\)\?restrict ' >"$work/a.sql"
    "$bindir/pg_dump" --schema-only "$copy" | grep -v '^\\\(un\)\?restrict ' >"$work/b.sql"
    rows_digest "$db" >"$work/a.rows"
    rows_digest "$copy" >"$work/b.rows"
    if diff -q "$work/a.sql" "$work/b.sql" >/dev/null && diff -q "$work/a.rows" "$work/b.rows" >/dev/null; then
        echo "$ds: identical ($(wc -l <"$work/a.sql") schema lines, $(wc -l <"$work/a.rows") tables)"
    else
        echo "$ds: DIFFERENT"
        diff "$work/a.sql" "$work/b.sql" | head -20 || true
        diff "$work/a.rows" "$work/b.rows" | head -20 || true
        status=1
    fi
    psql_q -d postgres -c "DROP DATABASE $copy"
done
exit $status
