-- pgbench script: a steady mix of inserts, updates and deletes on every
-- column of the all-types table, the mixed-case table in its own schema and
-- the TOASTed table, alongside the TPC-B-like load.
\set k random(1, 1000000)
INSERT INTO all_types (n, n_scaled, f4, f8, ts, tstz, d, t, ttz, iv, b, j, jb, u, int_arr,
                       text_arr, m, mood_arr, p, label, txt, flag, ch, i2, addr, bits, nums)
VALUES (CASE WHEN :k % 11 = 0 THEN 'NaN' ELSE random()::numeric * :k END, 1.5,
        (random() - 0.5)::real, CASE WHEN :k % 7 = 0 THEN 'NaN' ELSE -0.0 END,
        now()::timestamp, now(), current_date - :k % 5000, localtime, current_time,
        make_interval(secs => :k / 7.0), sha256(:k::text::bytea),
        json_build_object('k', :k, 'note', 'two  spaces'), jsonb_build_object('k', :k, 'é', '🚂'),
        gen_random_uuid(), ARRAY[:k, NULL], ARRAY['a"b', 'c,d', NULL], 'happy',
        ARRAY['sad', 'très content']::mood[], 1 + :k % 100, 'l' || :k % 10, 'row ' || :k || ' ✓',
        :k % 2 = 0, chr(65 + :k % 26), (:k % 30000)::smallint, ('10.0.' || :k % 256 || '.1')::inet,
        (:k % 65536)::bit(16)::varbit, ARRAY[:k::numeric / 3, 1.10]);
UPDATE all_types SET f8 = random(), txt = txt || '.', tstz = now(), m = 'sad', iv = iv + interval '1.5 seconds',
       text_arr = text_arr || 'Ω'::text, j = '{"updated": true}'
 WHERE id = (SELECT max(id) FROM all_types) - :k % 20;
DELETE FROM all_types WHERE id = (SELECT max(id) FROM all_types) - 25 - :k % 5;
UPDATE "Other Schema"."Mixed Case" SET "Value Text" = 'v' || :k, "select" = :k % 1000
 WHERE "Id" = 1 + :k % 20;
UPDATE toasty SET counter = counter + 1 WHERE id = 1 + :k % 5;
UPDATE no_key SET b = md5(:k::text) WHERE a = 2;
