-- Edge-case rows for all_types. :'tag' distinguishes batches.
INSERT INTO all_types (n, n_scaled, f4, f8, ts, tstz, d, t, ttz, iv, b, j, jb, u, int_arr,
                       text_arr, m, mood_arr, p, label, txt, flag, ch, i2, addr, bits, nums)
VALUES
  ('NaN', 12345678901234567890.12345678901234567890, 'NaN', '-0', '2000-01-01 00:00:00.000001',
   '1999-12-31 23:59:59.999999+14', '4713-01-01 BC', '24:00:00', '23:59:59-12', '-178000000 years',
   '\x00ff00', '{"b": 1,  "a": [1, 2.50]}', '{"b": 1, "a": [1, 2.50]}',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', '{"with \"quote\"","comma,here",NULL,""}',
   'très content', '{sad,happy}', 7, 'x', E'tab\there\nnewline \\ backslash', true, 'ab', -32768,
   '::ffff:10.1.2.3/120', B'1010', '{1.0,1.00,NaN}'),
  (1.0, 1.00, 'Infinity', '-Infinity', 'infinity', '-infinity', 'epoch', '00:00', '00:00+00',
   '1 mon -1 day 00:00:00.000001', '', 'null', '"string"', '00000000-0000-0000-0000-000000000000',
   '{}', '{}', 'sad', '{}', 1, DEFAULT, '', false, '   ', 32767, '0.0.0.0', B'', '{}'),
  (-0.0, 0.00000000000000000001, 1.17549435e-38, 4.9e-324, '1970-01-01', '2038-01-19 03:14:08+00',
   '294276-12-31', '12:34:56.789012', '12:34:56.789012+05:45', 'P1Y2M3DT4H5M6.789S',
   decode(repeat('deadbeef', 100), 'hex'), '[]', '{"ü": "\u00e9", "emoji": "🚂"}',
   gen_random_uuid(), '{{1,2},{3,4}}', '{"e\u0301", "é", "🚂🚃🚃"}', NULL, NULL, NULL, 'label',
   'Zürich — 東京 — Ελλάδα — 🚂', NULL, NULL, NULL, NULL, NULL, NULL),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, DEFAULT, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

INSERT INTO "Other Schema"."Mixed Case" SELECT g, 'value ' || g, g * 2 FROM generate_series(1, 20) g
  ON CONFLICT ("Id") DO UPDATE SET "Value Text" = excluded."Value Text" || ' again';
INSERT INTO no_key VALUES (1, 'dup', '{"x": 1}'), (1, 'dup', '{"x": 1}'), (2, NULL, NULL);
INSERT INTO events SELECT g, (ARRAY['eu', 'us', 'apac'])[1 + g % 3], 'event ' || g
  FROM generate_series(1, 30) g ON CONFLICT DO NOTHING;
