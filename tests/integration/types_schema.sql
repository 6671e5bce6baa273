-- Source schema for the type round-trip and crash tests: every type the
-- replicator must carry exactly, plus the shapes of table it must handle.
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'très content');
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE DOMAIN short_label AS varchar(20) NOT NULL DEFAULT 'none';
CREATE SCHEMA "Other Schema";

CREATE TABLE all_types (
  id          bigserial PRIMARY KEY,
  n           numeric,
  n_scaled    numeric(40, 20),
  f4          real,
  f8          double precision,
  ts          timestamp,
  tstz        timestamptz,
  d           date,
  t           time,
  ttz         timetz,
  iv          interval,
  b           bytea,
  j           json,
  jb          jsonb,
  u           uuid,
  int_arr     integer[],
  text_arr    text[],
  m           mood,
  mood_arr    mood[],
  p           positive_int,
  label       short_label,
  txt         text,
  flag        boolean,
  ch          char(3),
  i2          smallint,
  addr        inet,
  bits        bit varying(16),
  nums        numeric[]
);

CREATE TABLE "Other Schema"."Mixed Case" (
  "Id"         integer PRIMARY KEY,
  "Value Text" text,
  "select"     integer
);

-- No primary key: replicates with REPLICA IDENTITY FULL, duplicates included.
CREATE TABLE no_key (a integer, b text, j json);
ALTER TABLE no_key REPLICA IDENTITY FULL;

CREATE TABLE events (
  id      integer,
  region  text,
  payload text,
  PRIMARY KEY (id, region)
) PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
CREATE TABLE events_other PARTITION OF events DEFAULT;

-- A large, incompressible value is TOASTed out of line; updating another
-- column sends it as "unchanged" ('u').
CREATE TABLE toasty (id integer PRIMARY KEY, big text, counter integer);
ALTER TABLE toasty ALTER COLUMN big SET STORAGE EXTERNAL;

CREATE TABLE scratch (id integer PRIMARY KEY, v text);
