-- pgbench script for schema_objects.sh: one application transaction using
-- the function, the procedure, both triggers, the view, the materialized
-- view, the rule and the policy (it runs as app_user).
\set fid random(1, 200)
BEGIN;
SELECT count(*) FROM film_in_stock(:fid, 1);
SELECT count(*) FROM films_titled('FILM 1%');
CALL rent(:fid);
INSERT INTO film (title, description) VALUES ('New film ' || :fid, 'added by the application') RETURNING film_id;
SELECT title, qty FROM film_list WHERE film_id = :fid;
SELECT sum(films) FROM film_stats;
DELETE FROM audit_log WHERE id = :fid;
END;
