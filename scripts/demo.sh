#!/usr/bin/env bash
# A real dump and parallel restore of a sample database on a throwaway local cluster.
# Usage: bash scripts/demo.sh [JOBS]     (needs PostgreSQL server binaries: pg_config --bindir or PG_BINDIR)
set -euo pipefail

JOBS=${1:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BINDIR=${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || true)}
[ -x "$BINDIR/initdb" ] || { echo "demo: no PostgreSQL server binaries (install postgresql, or set PG_BINDIR)" >&2; exit 2; }

# Runs a tool, shows its summary lines; on failure shows everything it said.
run_tool() {
  local out
  if ! out=$("$@" 2>&1); then
    printf '%s\n' "$out" | sed 's/^/    /' >&2
    echo "demo: $(basename "$1") failed" >&2
    exit 1
  fi
  printf '%s\n' "$out" | grep -E "^$(basename "$1"):" | sed 's/^/    /' || true
}

step_start=0
step() { step_start=$(date +%s%N); printf '==> %s\n' "$*"; }
done_step() { awk -v a="$step_start" -v b="$(date +%s%N)" 'BEGIN { printf "    done in %.2f s\n", (b - a) / 1e9 }'; }

step "building rdump and rrestore (release)"
(cd "$ROOT" && cargo build --release --locked -q -p dump -p restore)
done_step
RDUMP=${CARGO_TARGET_DIR:-$ROOT/target}/release/rdump
RRESTORE=${CARGO_TARGET_DIR:-$ROOT/target}/release/rrestore

WORK=$(mktemp -d /tmp/rdump-demo.XXXXXX)
chmod 755 "$WORK"
RUNAS=()
if [ "$(id -u)" = 0 ]; then
  # initdb refuses root: the server runs as an unprivileged user.
  USER_NAME=$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)
  chown "$USER_NAME" "$WORK"
  RUNAS=(runuser -u "$USER_NAME" --)
fi
PORT=$(( 20000 + RANDOM % 20000 ))
cleanup() {
  "${RUNAS[@]}" "$BINDIR/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

step "starting a throwaway cluster in $WORK (port $PORT)"
"${RUNAS[@]}" "$BINDIR/initdb" -D "$WORK/data" -N -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
"${RUNAS[@]}" "$BINDIR/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
  -o "-k $WORK -p $PORT -c listen_addresses= -c fsync=off -c max_connections=40" start >/dev/null
done_step
export PGHOST=$WORK PGPORT=$PORT PGUSER=postgres
PSQL=("$BINDIR/psql" -X -q -v ON_ERROR_STOP=1)
[ -x "$BINDIR/psql" ] || PSQL=(psql -X -q -v ON_ERROR_STOP=1)

step "creating the sample database (fixtures/roundtrip.sql: 50+ tables, a 1M-row table)"
"${PSQL[@]}" -d postgres -f "$ROOT/fixtures/roles.sql" >/dev/null
"${PSQL[@]}" -d postgres -c "CREATE DATABASE sample"
"${PSQL[@]}" -d sample -f "$ROOT/fixtures/roundtrip.sql" >/dev/null
"${PSQL[@]}" -d sample -Atc "SELECT 'tables: ' || count(*) || ', size: ' || pg_size_pretty(pg_database_size('sample')) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema')" | sed 's/^/    /'
done_step

step "rdump -j $JOBS -Fd -f $WORK/sample.dir sample"
run_tool "$RDUMP" -v -j "$JOBS" -Fd -f "$WORK/sample.dir" sample
du -sh "$WORK/sample.dir" | awk '{print "    archive size: " $1}'
done_step

step "rrestore -j $JOBS -d restored $WORK/sample.dir"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE restored"
run_tool "$RRESTORE" -v -j "$JOBS" -d restored "$WORK/sample.dir"
done_step

step "comparing source and restored database (pg_dump --schema-only, and every table's rows)"
PG_DUMP=$BINDIR/pg_dump; [ -x "$PG_DUMP" ] || PG_DUMP=pg_dump
norm() { grep -v -e '^--' -e '^\\restrict' -e '^\\unrestrict' | cat -s; }
"$PG_DUMP" --schema-only sample | norm >"$WORK/a.sql"
"$PG_DUMP" --schema-only restored | norm >"$WORK/b.sql"
digest() {
  "${PSQL[@]}" -d "$1" -At -c "SELECT format('SELECT %L || '' '' || count(*) || '' '' || md5(coalesce(string_agg(t::text, E''\\n'' ORDER BY t::text COLLATE \"C\"), '''')) FROM %I.%I t;', n.nspname || '.' || c.relname, n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname !~ '^pg_toast' ORDER BY 1" \
    | "${PSQL[@]}" -d "$1" -At
}
digest sample >"$WORK/a.rows"; digest restored >"$WORK/b.rows"
if diff -q "$WORK/a.sql" "$WORK/b.sql" >/dev/null && diff -q "$WORK/a.rows" "$WORK/b.rows" >/dev/null; then
  echo "    identical: $(wc -l <"$WORK/a.sql") lines of schema, $(wc -l <"$WORK/a.rows") tables of rows"
else
  diff "$WORK/a.sql" "$WORK/b.sql" | head -20; diff "$WORK/a.rows" "$WORK/b.rows" | head -20
  echo "demo: source and restored database differ" >&2; exit 1
fi
done_step
echo "demo finished; the cluster and its files are removed on exit"
