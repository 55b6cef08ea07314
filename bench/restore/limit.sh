#!/usr/bin/env bash
# What the server itself can do: the floor under any restore of a dataset, found by doing
# the restore's server work with nothing of a client's in the way.
#
#   bench/restore/limit.sh prepare DB DIR   once per dataset: the schema (pg_dump's pre-data
#                                           section), every table's rows as server-side
#                                           files (COPY TO, uncompressed; tables over
#                                           SPLIT_MB also in 4 parts of whole lines), and
#                                           the indexes, keys and foreign keys as jobs
#   bench/restore/limit.sh run DIR TARGET J [STRATEGY]
#                                           restores into the existing empty database
#                                           TARGET with J connections; prints
#                                           "total pre load index constraint" seconds and
#                                           the machine's busy CPU seconds during it
#
# The run, phase by phase (each phase's jobs spread over J sessions, biggest first, each
# to the least loaded session, decided up front so that no client schedules anything):
#   pre         the pre-data script, one session
#   load        server-side COPY FROM the files, each table from 8 MB on as TRUNCATE +
#               COPY FREEZE in one transaction (smaller ones plainly), or part by part
#               side by side (STRATEGY split)
#   index       every index, keys' included, maintenance_work_mem 1 GB and no parallel
#               workers (on 2 cores the workers made a primary key slower, issue 13); a
#               table's indexes may build side by side
#   constraint  primary keys and unique constraints attached to their built indexes, the
#               foreign keys added NOT VALID, then validated side by side
#
# STRATEGY: which way of splitting the work is fastest depends on the server version and
# the dataset, so bench/restore/run.sh runs each and takes the fastest:
#   whole    (default) every table loaded whole and frozen
#   split    tables with parts loaded part by part, side by side (not frozen: two
#            sessions cannot both write into a table truncated in one's transaction);
#            PostgreSQL 16 and later extend a relation in bulk, so this can gain there
#   overlap  each table's load and then its indexes as one job, so index builds overlap
#            other tables' loads instead of waiting for all of them
#
# Environment: PGHOST/PGPORT/PGUSER of a superuser (server-side files), PG_BINDIR;
# SPLIT_MB (default 64).
set -euo pipefail

bindir=${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
psql_q() { PGOPTIONS="-c client_min_messages=warning -c search_path=pg_catalog" "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
as_server() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# Spreads weighted one-line jobs ("WEIGHT<TAB>SQL" on stdin) over $1 files $2.0 … $2.(N-1):
# heaviest first, each to the file with the least weight so far.
spread_jobs() {
    local n=$1 prefix=$2 k
    for k in $(seq 0 $((n - 1))); do : >"$prefix.$k"; done
    sort -t$'\t' -k1,1 -g -r | awk -F'\t' -v n="$n" -v p="$prefix" '{
        best = 0
        for (k = 1; k < n; k++) if (load[k] < load[best]) best = k
        load[best] += $1
        sub(/^[^\t]*\t/, "")
        print > (p "." best)
    }'
}

# Runs the job files $2.* side by side in database $1, one session each.
run_sessions() {
    local db=$1 prefix=$2 f pids=()
    for f in "$prefix".*; do
        [ -s "$f" ] || continue
        psql_q -d "$db" -c "SET maintenance_work_mem = '1GB'" \
            -c "SET max_parallel_maintenance_workers = 0" -f "$f" &
        pids+=($!)
    done
    local rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
}

busy_jiffies() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
now() { date +%s.%N; }

prepare() {
    local db=$1 dir=$2
    local split_bytes=$((${SPLIT_MB:-64} * 1024 * 1024))
    rm -rf "$dir"
    mkdir -p "$dir/data"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
    "$bindir/pg_dump" -d "$db" --section=pre-data -f "$dir/pre.sql"
    # Tables: "file<TAB>qualified name<TAB>bytes"
    psql_q -d "$db" -At -F $'\t' -c "
        SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname),
               pg_catalog.pg_relation_size(c.oid)
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'" \
        >"$dir/tables"
    local oid name bytes
    while IFS=$'\t' read -r oid name bytes; do
        psql_q -d "$db" -c "COPY $name TO '$dir/data/$oid'"
        if [ "$bytes" -gt "$split_bytes" ]; then
            as_server split -n l/4 -d "$dir/data/$oid" "$dir/data/$oid.part"
        fi
    done <"$dir/tables"
    # Indexes: "bytes<TAB>CREATE INDEX …<TAB>table oid"; keys to attach; foreign keys.
    psql_q -d "$db" -At -F $'\t' -c "
        SELECT pg_catalog.pg_relation_size(i.indexrelid), pg_catalog.pg_get_indexdef(i.indexrelid) || ';',
               i.indrelid
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'" \
        >"$dir/indexes"
    psql_q -d "$db" -At -c "
        SELECT pg_catalog.format('ALTER TABLE ONLY %s ADD CONSTRAINT %I %s USING INDEX %I;',
                                 k.conrelid::regclass, k.conname,
                                 CASE k.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END,
                                 k.conname)
          FROM pg_catalog.pg_constraint k
          JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace
         WHERE k.contype IN ('p', 'u') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'" \
        >"$dir/keys"
    psql_q -d "$db" -At -F $'\t' -c "
        SELECT pg_catalog.pg_relation_size(k.conrelid),
               pg_catalog.format('ALTER TABLE ONLY %s ADD CONSTRAINT %I %s NOT VALID;',
                                 k.conrelid::regclass, k.conname, pg_catalog.pg_get_constraintdef(k.oid)),
               pg_catalog.format('ALTER TABLE ONLY %s VALIDATE CONSTRAINT %I;',
                                 k.conrelid::regclass, k.conname)
          FROM pg_catalog.pg_constraint k
          JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace
         WHERE k.contype = 'f' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'" \
        >"$dir/fkeys"
    echo "prepared $(wc -l <"$dir/tables") tables, $(wc -l <"$dir/indexes") indexes, $(wc -l <"$dir/fkeys") foreign keys in $dir" >&2
}

run() {
    local dir=$1 target=$2 j=$3 strategy=${4:-whole}
    local work oid name bytes f
    work=$(mktemp -d)
    # One load job per table (or per part), as "weight<TAB>table oid<TAB>SQL".
    while IFS=$'\t' read -r oid name bytes; do
        if [ "$strategy" = split ] && [ -f "$dir/data/$oid.part00" ]; then
            for f in "$dir/data/$oid".part*; do
                printf '%s\t-\tCOPY %s FROM %s;\n' "$((bytes / 4))" "$name" "'$f'"
            done
        elif [ "$bytes" -ge $((8 << 20)) ]; then
            printf '%s\t%s\tBEGIN; TRUNCATE ONLY %s; COPY %s FROM %s WITH (FREEZE); COMMIT;\n' \
                "$bytes" "$oid" "$name" "$name" "'$dir/data/$oid'"
        else
            # Freezing a small table costs more than it saves: the commit after the
            # TRUNCATE scans all of shared_buffers to drop the old files' pages.
            printf '%s\t%s\tCOPY %s FROM %s;\n' "$bytes" "$oid" "$name" "'$dir/data/$oid'"
        fi
    done <"$dir/tables" >"$work/loads"
    if [ "$strategy" = overlap ]; then
        # A table's job: its load, then its indexes; the weights add up.
        awk -F'\t' 'NR == FNR { w[$3] += $1; sql[$3] = sql[$3] " " $2; next }
                    { print $1 + w[$2] "\t" $3 sql[$2] }' "$dir/indexes" "$work/loads" |
            spread_jobs "$j" "$work/load"
        : >"$work/index.0"
    else
        cut -f1,3 "$work/loads" | spread_jobs "$j" "$work/load"
        cut -f1,2 "$dir/indexes" | spread_jobs "$j" "$work/index"
    fi
    cut -f1,3 "$dir/fkeys" | spread_jobs "$j" "$work/validate"

    local c0 t0 t1 t2 t3 t4
    c0=$(busy_jiffies)
    t0=$(now)
    psql_q -d "$target" -f "$dir/pre.sql" >/dev/null
    t1=$(now)
    run_sessions "$target" "$work/load"
    t2=$(now)
    run_sessions "$target" "$work/index"
    t3=$(now)
    psql_q -d "$target" -f "$dir/keys"
    cut -f2 "$dir/fkeys" | psql_q -d "$target"
    run_sessions "$target" "$work/validate"
    t4=$(now)
    local c1 hz
    c1=$(busy_jiffies)
    hz=$(getconf CLK_TCK)
    rm -rf "$work"
    echo "$t0 $t1 $t2 $t3 $t4 $c0 $c1 $hz" |
        awk '{printf "%.3f %.3f %.3f %.3f %.3f cpu %.2f\n", $5 - $1, $2 - $1, $3 - $2, $4 - $3, $5 - $4, ($7 - $6) / $8}'
}

case ${1:-} in
prepare) prepare "$2" "$3" ;;
run) run "$2" "$3" "$4" "${5:-whole}" ;;
*)
    sed -n '2,40p' "$0" >&2
    exit 2
    ;;
esac
