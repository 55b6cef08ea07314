-- A digest of a database's contents: equal databases give equal text. Used by the test
-- harness (tests/src/compare.rs) and by bench/regression-db.sh.
--
-- Session settings fix the text form of every value, whatever the cluster's defaults.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
SET lc_monetary = 'C';
SET xmlbinary = 'base64';
SET xmloption = 'content';

-- Rows are hashed as their text (so column order counts), or, when psql's variable
-- rows_by_name is set (bench/regression-db.sh), as jsonb, whose keys are column names in
-- sorted order: PostgreSQL's regression database has inheritance children whose parents got
-- columns later, which no CREATE TABLE ... INHERITS (pg_dump's or rdump's) puts back in place.
\if :{?rows_by_name}
SELECT 'pg_catalog.to_jsonb(t)::text' AS row_text \gset
\else
SELECT 't::text' AS row_text \gset
\endif

-- One query per relation, generated server-side and run with \gexec, in (schema, name)
-- order by bytes:
-- - tables and populated materialized views: `table s.t count=N md5=H`, where H is the md5
--   of the rows' md5s sorted bytewise (the same multiset of rows gives the same H, and
--   sorting 32-byte hashes instead of whole rows never meets the 1 GB text limit); FROM
--   ONLY, so a parent's count excludes its inheritance children, which count themselves;
-- - unpopulated materialized views: `matview s.m unpopulated`;
-- - sequences: `sequence s.q last_value=N is_called=B`.
SELECT CASE
    WHEN c.relkind = 'S' THEN
        format('SELECT %L || last_value || '' is_called='' || is_called FROM %I.%I',
               'sequence ' || format('%I.%I', n.nspname, c.relname) || ' last_value=',
               n.nspname, c.relname)
    WHEN c.relkind = 'm' AND NOT c.relispopulated THEN
        format('SELECT %L', 'matview ' || format('%I.%I', n.nspname, c.relname) || ' unpopulated')
    ELSE
        format('SELECT %L || count(*) || '' md5='' || md5(coalesce(string_agg(h, '''' ORDER BY h COLLATE "C"), '''')) '
               'FROM (SELECT md5(%s) AS h FROM ONLY %I.%I AS t) AS rows',
               CASE c.relkind WHEN 'm' THEN 'matview ' ELSE 'table ' END
                   || format('%I.%I', n.nspname, c.relname) || ' count=',
               :'row_text', n.nspname, c.relname)
    END
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'S')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
\gexec

-- Large objects, one line each: oid, owner, privileges, comment and the md5 of the content
-- (pg_dump --schema-only shows none of these).
SELECT 'large_object ' || m.oid || ' owner=' || pg_catalog.pg_get_userbyid(m.lomowner)
       || ' acl=' || coalesce(m.lomacl::text, '-')
       || ' comment=' || coalesce(pg_catalog.quote_literal(d.description), '-')
       || ' md5=' || md5(lo_get(m.oid))
FROM pg_catalog.pg_largeobject_metadata AS m
LEFT JOIN pg_catalog.pg_description AS d
       ON d.objoid = m.oid AND d.classoid = 'pg_catalog.pg_largeobject'::pg_catalog.regclass
ORDER BY m.oid;
SELECT 'large_objects count=' || count(*) FROM pg_catalog.pg_largeobject_metadata;
