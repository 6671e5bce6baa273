-- What a record store's application adds to Chinook (scripts/demo.sh loads
-- it into the legacy primary before switchyard's init, which brings it over):
-- key sequences, a function that records a sale, triggers that keep an
-- invoice's date, billing address and total filled and a per-genre sales
-- counter up to date, and two views the application reads.

-- Invoice and line keys come from sequences (Chinook ships plain ints).
CREATE SEQUENCE invoice_invoice_id_seq OWNED BY invoice.invoice_id;
SELECT setval('invoice_invoice_id_seq', max(invoice_id)) FROM invoice;
ALTER TABLE invoice ALTER COLUMN invoice_id SET DEFAULT nextval('invoice_invoice_id_seq');
CREATE SEQUENCE invoice_line_invoice_line_id_seq OWNED BY invoice_line.invoice_line_id;
SELECT setval('invoice_line_invoice_line_id_seq', max(invoice_line_id)) FROM invoice_line;
ALTER TABLE invoice_line ALTER COLUMN invoice_line_id
  SET DEFAULT nextval('invoice_line_invoice_line_id_seq');

-- One row per genre, bumped by every track sold: the hot rows.
CREATE TABLE genre_sales (
  genre_id     int PRIMARY KEY REFERENCES genre,
  tracks_sold  bigint NOT NULL,
  revenue      numeric(14,2) NOT NULL,
  last_sale_at timestamptz
);
INSERT INTO genre_sales (genre_id, tracks_sold, revenue)
SELECT g.genre_id, coalesce(sum(l.quantity), 0), coalesce(sum(l.unit_price * l.quantity), 0)
  FROM genre g
  LEFT JOIN track t ON t.genre_id = g.genre_id
  LEFT JOIN invoice_line l ON l.track_id = t.track_id
 GROUP BY g.genre_id;

-- A new invoice gets its date and the customer's billing address, and
-- starts at a total of 0 (NOT NULL columns: the insert relies on this).
CREATE FUNCTION invoice_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.invoice_date := coalesce(NEW.invoice_date, localtimestamp(0));
  NEW.total := coalesce(NEW.total, 0);
  IF NEW.billing_address IS NULL THEN
    SELECT address, city, state, country, postal_code
      INTO NEW.billing_address, NEW.billing_city, NEW.billing_state, NEW.billing_country,
           NEW.billing_postal_code
      FROM customer WHERE customer_id = NEW.customer_id;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER invoice_fill BEFORE INSERT ON invoice
  FOR EACH ROW EXECUTE FUNCTION invoice_fill();

-- Every line sold adds to its invoice's total and to its genre's counter.
CREATE FUNCTION invoice_line_booked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  amount numeric := NEW.unit_price * NEW.quantity;
BEGIN
  UPDATE invoice SET total = total + amount WHERE invoice_id = NEW.invoice_id;
  UPDATE genre_sales
     SET tracks_sold = tracks_sold + NEW.quantity, revenue = revenue + amount, last_sale_at = now()
   WHERE genre_id = (SELECT genre_id FROM track WHERE track_id = NEW.track_id);
  RETURN NULL;
END $$;
CREATE TRIGGER invoice_line_booked AFTER INSERT ON invoice_line
  FOR EACH ROW EXECUTE FUNCTION invoice_line_booked();

-- Records a sale of the given tracks to a customer; returns the invoice id.
-- Lines go in genre order, so concurrent sales lock the genre counters in
-- the same order and never deadlock.
CREATE FUNCTION record_sale(p_customer_id int, p_track_ids int[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  v_invoice_id int;
BEGIN
  INSERT INTO invoice (customer_id) VALUES (p_customer_id) RETURNING invoice_id INTO v_invoice_id;
  INSERT INTO invoice_line (invoice_id, track_id, unit_price, quantity)
  SELECT v_invoice_id, t.track_id, t.unit_price, 1
    FROM track t
   WHERE t.track_id = ANY (p_track_ids)
   ORDER BY t.genre_id, t.track_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'record_sale: no track among %', p_track_ids;
  END IF;
  RETURN v_invoice_id;
END $$;

-- What each customer has bought.
CREATE VIEW customer_spend AS
SELECT c.customer_id, c.first_name || ' ' || c.last_name AS customer, c.country,
       count(i.invoice_id) AS invoices, coalesce(sum(i.total), 0) AS total_spent,
       max(i.invoice_date) AS last_purchase
  FROM customer c
  LEFT JOIN invoice i ON i.customer_id = c.customer_id
 GROUP BY c.customer_id, c.first_name, c.last_name, c.country;

-- The genres that sell best.
CREATE VIEW genre_leaderboard AS
SELECT rank() OVER (ORDER BY s.revenue DESC) AS rank, g.name AS genre, s.tracks_sold, s.revenue,
       s.last_sale_at
  FROM genre_sales s
  JOIN genre g ON g.genre_id = s.genre_id;
