-- pgbench script: a steady mix of inserts, updates and deletes on the
-- all-types table and the TOASTed table, alongside the TPC-B-like load.
\set k random(1, 1000000)
INSERT INTO all_types (n, n_scaled, f4, f8, ts, tstz, d, iv, b, jb, u, int_arr, text_arr, m, p, txt, flag)
VALUES (random()::numeric * :k, 1.5, (random() - 0.5)::real, CASE WHEN :k % 7 = 0 THEN 'NaN' ELSE -0.0 END,
        now()::timestamp, now(), current_date - :k % 5000, make_interval(secs => :k / 7.0),
        sha256(:k::text::bytea), jsonb_build_object('k', :k, 'é', '🚂'), gen_random_uuid(),
        ARRAY[:k, NULL], ARRAY['a"b', 'c,d'], 'happy', 1 + :k % 100, 'row ' || :k || ' ✓', :k % 2 = 0);
UPDATE all_types SET f8 = random(), txt = txt || '.', tstz = now(), m = 'sad'
 WHERE id = (SELECT max(id) FROM all_types) - :k % 20;
DELETE FROM all_types WHERE id = (SELECT max(id) FROM all_types) - 25 - :k % 5;
UPDATE toasty SET counter = counter + 1 WHERE id = 1 + :k % 5;
UPDATE no_key SET b = md5(:k::text) WHERE a = 2;
