-- 300 tables of mixed sizes: 20 dimension tables and 280 fact tables in three schemas.
-- Fact table k (1..280) holds about 400000 / k^1.2 rows (every 25th is empty), has a
-- primary key, two secondary indexes and a foreign key to one dimension table.
CREATE SCHEMA s1;
CREATE SCHEMA s2;
CREATE SCHEMA s3;
DO $$
DECLARE
    k int;
    n bigint;
    t text;
    d text;
BEGIN
    PERFORM setseed(0.42);
    FOR k IN 1..20 LOOP
        d := format('s1.dim_%s', lpad(k::text, 2, '0'));
        EXECUTE format('CREATE TABLE %s (id int PRIMARY KEY, label text NOT NULL,
                        weight numeric(8,3), updated timestamptz)', d);
        EXECUTE format('INSERT INTO %s SELECT g, %L || g, (g * 37 %% 1000) / 7.0,
                        timestamptz ''2021-01-01'' + g * interval ''1 hour''
                        FROM generate_series(1, %s) g', d, 'label ', 50 * k);
    END LOOP;
    FOR k IN 1..280 LOOP
        t := format('s%s.fact_%s', 1 + k % 3, lpad(k::text, 3, '0'));
        d := format('s1.dim_%s', lpad((1 + k % 20)::text, 2, '0'));
        n := CASE WHEN k % 25 = 0 THEN 0 ELSE floor(400000 / power(k, 1.2))::bigint END;
        EXECUTE format('CREATE TABLE %s (
                            id bigint PRIMARY KEY,
                            dim_id int NOT NULL REFERENCES %s,
                            code text NOT NULL,
                            qty int,
                            price numeric(12,2),
                            created timestamptz NOT NULL,
                            flag boolean,
                            descr text)', t, d);
        EXECUTE format('INSERT INTO %s
                        SELECT g, 1 + (g * 7919) %% %s, ''C'' || lpad((g * 104729 %% 1000000)::text, 6, ''0''),
                               (random() * 1000)::int, round((random() * 10000)::numeric, 2),
                               timestamptz ''2022-01-01'' + g * interval ''37 seconds'',
                               g %% 3 = 0,
                               CASE WHEN g %% 10 = 0 THEN NULL
                                    ELSE substr(md5(g::text) || md5((g * 3)::text), 1, (8 + g %% 40)::int) END
                        FROM generate_series(1::bigint, %s) g', t, 50 * (1 + k % 20), n);
        EXECUTE format('CREATE INDEX ON %s (dim_id)', t);
        EXECUTE format('CREATE INDEX ON %s (created)', t);
    END LOOP;
END $$;
