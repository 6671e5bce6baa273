-- Source schema for schema_objects.sh: what an application uses besides
-- its tables. Roles are cluster-wide: the test creates app_user on both
-- servers first.
CREATE EXTENSION citext;
CREATE EXTENSION hstore;

-- Called by a column default: must exist before the table is created.
CREATE FUNCTION default_rating() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'G' $$;

CREATE TABLE film (
  film_id serial PRIMARY KEY,
  title citext NOT NULL,
  description text,
  rating text NOT NULL DEFAULT default_rating(),
  attrs hstore,
  fulltext tsvector NOT NULL
);
CREATE INDEX film_fulltext_idx ON film USING gist (fulltext);
CREATE TABLE inventory (
  film_id integer PRIMARY KEY REFERENCES film,
  store_id integer NOT NULL,
  qty integer NOT NULL
);
CREATE TABLE rental (
  rental_id bigserial PRIMARY KEY,
  film_id integer NOT NULL REFERENCES film,
  rented_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  table_name text NOT NULL,
  op text NOT NULL,
  row_data jsonb,
  at timestamptz NOT NULL DEFAULT now()
);

-- The application's functions: SQL and plpgsql, one returning a table's
-- row type (it can only be created after the table), and a procedure.
CREATE FUNCTION film_in_stock(p_film_id integer, p_store_id integer) RETURNS SETOF integer
  LANGUAGE sql STABLE AS $$
    SELECT film_id FROM public.inventory WHERE film_id = p_film_id AND store_id = p_store_id AND qty > 0
  $$;
CREATE FUNCTION films_titled(pattern citext) RETURNS SETOF film
  LANGUAGE sql STABLE AS $$ SELECT * FROM public.film WHERE title LIKE pattern $$;
CREATE FUNCTION inventory_count() RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM public.inventory $$;
CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.audit_log (table_name, op, row_data) VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(NEW));
  RETURN NEW;
END $$;
CREATE PROCEDURE rent(p_film_id integer) LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.rental (film_id) VALUES (p_film_id);
  UPDATE public.inventory SET qty = qty - 1 WHERE film_id = p_film_id;
END $$;

-- Triggers: the application's inserts leave fulltext to this one (the
-- column is NOT NULL), and every inventory change is audited.
CREATE TRIGGER film_fulltext BEFORE INSERT OR UPDATE ON film FOR EACH ROW
  EXECUTE FUNCTION tsvector_update_trigger(fulltext, 'pg_catalog.english', title, description);
CREATE TRIGGER inventory_audit AFTER INSERT OR UPDATE ON inventory FOR EACH ROW EXECUTE FUNCTION audit();

CREATE VIEW film_list AS
  SELECT f.film_id, f.title, f.rating, i.qty FROM film f LEFT JOIN inventory i USING (film_id);
CREATE MATERIALIZED VIEW film_stats AS
  SELECT rating, count(*) AS films FROM film GROUP BY rating;
CREATE UNIQUE INDEX film_stats_rating ON film_stats (rating);

-- Valid only once film's primary key exists (it determines f.title in
-- GROUP BY f.film_id): pg_dump emits a dummy view first and the real
-- definition after the keys; the materialized view, the SQL-standard
-- function body and the policy's subquery are emitted after the keys too.
-- popular_films reads the view: filled from the dummy, it would be wrong.
CREATE VIEW film_rentals AS
  SELECT f.film_id, f.title, count(r.rental_id) AS rentals
    FROM film f LEFT JOIN rental r USING (film_id) GROUP BY f.film_id;
CREATE MATERIALIZED VIEW film_rental_counts AS
  SELECT f.film_id, f.title, count(r.rental_id) AS rentals
    FROM film f JOIN rental r USING (film_id) GROUP BY f.film_id;
CREATE UNIQUE INDEX film_rental_counts_film ON film_rental_counts (film_id);
CREATE MATERIALIZED VIEW popular_films AS SELECT film_id, title FROM film_rentals WHERE rentals > 0;
CREATE FUNCTION film_rentals_of(p_film_id integer) RETURNS bigint LANGUAGE sql STABLE
BEGIN ATOMIC
  SELECT s.rentals FROM (SELECT f.film_id, f.title, count(r.rental_id) AS rentals
                           FROM film f LEFT JOIN rental r USING (film_id) GROUP BY f.film_id) s
   WHERE s.film_id = p_film_id;
END;

-- The audit trail is append-only.
CREATE RULE audit_log_keep AS ON DELETE TO audit_log DO INSTEAD NOTHING;

ALTER TABLE rental ENABLE ROW LEVEL SECURITY;
CREATE POLICY rental_app ON rental TO app_user USING (true) WITH CHECK (film_id > 0);
-- Its subquery, too, needs film's primary key (HAVING f.title).
CREATE POLICY rental_titled ON rental FOR SELECT TO app_user
  USING (film_id IN (SELECT f.film_id FROM film f GROUP BY f.film_id HAVING f.title IS NOT NULL));

COMMENT ON FUNCTION film_in_stock(integer, integer) IS 'films in stock at a store';
COMMENT ON TABLE audit_log IS 'append-only audit trail';
COMMENT ON INDEX film_fulltext_idx IS 'full-text search';
COMMENT ON MATERIALIZED VIEW film_rental_counts IS 'rentals per rented film';

GRANT SELECT, INSERT, UPDATE, DELETE ON film, inventory, rental, audit_log TO app_user;
GRANT SELECT ON film_list, film_stats, film_rentals, film_rental_counts, popular_films TO app_user;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO app_user;

INSERT INTO film (title, description, attrs)
  SELECT 'Film ' || g, 'a film about ' || md5(g::text), hstore('k', g::text) FROM generate_series(1, 200) g;
INSERT INTO inventory SELECT film_id, 1, 1000000 FROM film;
INSERT INTO rental (film_id) SELECT film_id FROM film WHERE film_id % 3 = 0;
REFRESH MATERIALIZED VIEW film_stats;
REFRESH MATERIALIZED VIEW film_rental_counts;
REFRESH MATERIALIZED VIEW popular_films;
