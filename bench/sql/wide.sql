-- One ~1 GB table of wide rows covering the types whose text form is costly to produce
-- and parse: jsonb, numeric, timestamptz, bytea (hex), uuid, arrays; every 100th row
-- carries a ~6 kB note that is TOASTed.
\o /dev/null
SELECT setseed(0.17);
\o
CREATE TABLE wide (
    id bigint PRIMARY KEY,
    created timestamptz NOT NULL,
    amount numeric(14,4),
    ratio double precision,
    ref uuid,
    name text,
    payload jsonb,
    blob bytea,
    tags text[],
    readings int[],
    weights float8[],
    note text
);
INSERT INTO wide
SELECT g,
       timestamptz '2020-01-01 00:00:00+00' + g * interval '17.25 seconds',
       round((random() * 1e8)::numeric, 4),
       random(),
       md5(g::text)::uuid,
       'customer ' || substr(md5((g * 31)::text), 1, 6 + g % 20),
       jsonb_build_object(
           'id', g,
           'kind', (ARRAY['order', 'refund', 'invoice', 'payment'])[1 + g % 4],
           'score', round((random() * 100)::numeric, 3),
           'active', g % 2 = 0,
           'address', jsonb_build_object('city', 'city ' || g % 997,
                                         'zip', lpad((g * 13 % 99999)::text, 5, '0'),
                                         'street', md5(g::text)),
           'items', jsonb_build_array(g % 7, g % 11, g % 13)),
       decode(md5(g::text) || substr(md5((g + 1)::text), 1, 2 * (g % 16)), 'hex'),
       ARRAY['t' || g % 10, 'tag-' || g % 37, 'label ' || g % 101],
       ARRAY[g % 1000, g % 333, g % 77, (g * 7) % 1001, (g * 13) % 9999, g % 5],
       ARRAY[random(), random(), random()],
       CASE WHEN g % 100 = 0
            THEN repeat(md5(g::text) || ' ' || md5((g * 7)::text) || E'\n', 90)
            ELSE 'note ' || substr(md5((g * 17)::text), 1, g % 30) END
FROM generate_series(1, 1900000) g;
