-- TPC-C-like tables generated inside the database (no loader program): TPC-C's nine tables, its
-- ratios (10 districts per warehouse, a stock row per item and warehouse, an order and a history
-- row per customer, 5-15 lines per order, the last 30 % of each district's orders undelivered) at
-- :warehouses warehouses, :items items and :customers customers per district. Deterministic:
-- setseed fixes random(). Keys and indexes are built after the rows, which is faster.
SELECT setseed(0.42);

-- TPC-C's customer last names: three syllables chosen by the digits of a number 0..999.
CREATE FUNCTION tpcc_last_name(n int) RETURNS text IMMUTABLE LANGUAGE sql AS $$
  SELECT s[n / 100 + 1] || s[n / 10 % 10 + 1] || s[n % 10 + 1]
  FROM (SELECT ARRAY['BAR','OUGHT','ABLE','PRI','PRES','ESE','ANTI','CALLY','ATION','EING'] AS s) a
$$;

CREATE TABLE warehouse (w_id int NOT NULL, w_name varchar(10) NOT NULL, w_street_1 varchar(20) NOT NULL,
  w_street_2 varchar(20) NOT NULL, w_city varchar(20) NOT NULL, w_state char(2) NOT NULL, w_zip char(9) NOT NULL,
  w_tax numeric(4,4) NOT NULL, w_ytd numeric(12,2) NOT NULL);
CREATE TABLE district (d_id int NOT NULL, d_w_id int NOT NULL, d_name varchar(10) NOT NULL,
  d_street_1 varchar(20) NOT NULL, d_street_2 varchar(20) NOT NULL, d_city varchar(20) NOT NULL,
  d_state char(2) NOT NULL, d_zip char(9) NOT NULL, d_tax numeric(4,4) NOT NULL, d_ytd numeric(12,2) NOT NULL,
  d_next_o_id int NOT NULL);
CREATE TABLE customer (c_id int NOT NULL, c_d_id int NOT NULL, c_w_id int NOT NULL, c_first varchar(16) NOT NULL,
  c_middle char(2) NOT NULL, c_last varchar(16) NOT NULL, c_street_1 varchar(20) NOT NULL,
  c_street_2 varchar(20) NOT NULL, c_city varchar(20) NOT NULL, c_state char(2) NOT NULL, c_zip char(9) NOT NULL,
  c_phone char(16) NOT NULL, c_since timestamp NOT NULL, c_credit char(2) NOT NULL,
  c_credit_lim numeric(12,2) NOT NULL, c_discount numeric(4,4) NOT NULL, c_balance numeric(12,2) NOT NULL,
  c_ytd_payment numeric(12,2) NOT NULL, c_payment_cnt int NOT NULL, c_delivery_cnt int NOT NULL,
  c_data varchar(500) NOT NULL);
CREATE TABLE history (h_c_id int NOT NULL, h_c_d_id int NOT NULL, h_c_w_id int NOT NULL, h_d_id int NOT NULL,
  h_w_id int NOT NULL, h_date timestamp NOT NULL, h_amount numeric(6,2) NOT NULL, h_data varchar(24) NOT NULL);
CREATE TABLE orders (o_id int NOT NULL, o_d_id int NOT NULL, o_w_id int NOT NULL, o_c_id int NOT NULL,
  o_entry_d timestamp NOT NULL, o_carrier_id int, o_ol_cnt int NOT NULL, o_all_local int NOT NULL);
CREATE TABLE new_order (no_o_id int NOT NULL, no_d_id int NOT NULL, no_w_id int NOT NULL);
CREATE TABLE order_line (ol_o_id int NOT NULL, ol_d_id int NOT NULL, ol_w_id int NOT NULL, ol_number int NOT NULL,
  ol_i_id int NOT NULL, ol_supply_w_id int NOT NULL, ol_delivery_d timestamp, ol_quantity int NOT NULL,
  ol_amount numeric(6,2) NOT NULL, ol_dist_info char(24) NOT NULL);
CREATE TABLE item (i_id int NOT NULL, i_im_id int NOT NULL, i_name varchar(24) NOT NULL, i_price numeric(5,2) NOT NULL,
  i_data varchar(50) NOT NULL);
CREATE TABLE stock (s_i_id int NOT NULL, s_w_id int NOT NULL, s_quantity int NOT NULL,
  s_dist_01 char(24) NOT NULL, s_dist_02 char(24) NOT NULL, s_dist_03 char(24) NOT NULL, s_dist_04 char(24) NOT NULL,
  s_dist_05 char(24) NOT NULL, s_dist_06 char(24) NOT NULL, s_dist_07 char(24) NOT NULL, s_dist_08 char(24) NOT NULL,
  s_dist_09 char(24) NOT NULL, s_dist_10 char(24) NOT NULL, s_ytd int NOT NULL, s_order_cnt int NOT NULL,
  s_remote_cnt int NOT NULL, s_data varchar(50) NOT NULL);

INSERT INTO item SELECT i, 1 + (random() * 9999)::int, 'item ' || left(md5(i::text), 14),
  round((1 + random() * 99)::numeric, 2),
  CASE WHEN random() < 0.1 THEN 'ORIGINAL ' ELSE '' END || repeat(md5(i::text), 1)
  FROM generate_series(1, :items) i;
INSERT INTO warehouse SELECT w, 'W' || w, 'street ' || w, 'street 2', 'city ' || w, 'ST', '123411111',
  round((random() * 0.2)::numeric, 4), 300000
  FROM generate_series(1, :warehouses) w;
INSERT INTO district SELECT d, w, 'D' || d, 'street ' || d, 'street 2', 'city ' || d, 'ST', '123411111',
  round((random() * 0.2)::numeric, 4), 30000, :customers + 1
  FROM generate_series(1, :warehouses) w, generate_series(1, 10) d;
INSERT INTO stock SELECT i, w, 10 + (random() * 90)::int,
  substr(m, 1, 24), substr(m, 2, 24), substr(m, 3, 24), substr(m, 4, 24), substr(m, 5, 24),
  substr(m, 6, 24), substr(m, 7, 24), substr(m, 8, 24), substr(m, 9, 24), substr(m, 10, 24), 0, 0, 0,
  CASE WHEN random() < 0.1 THEN 'ORIGINAL ' ELSE '' END || m
  FROM generate_series(1, :warehouses) w, generate_series(1, :items) i,
  LATERAL (SELECT md5(i::text || ' ' || w) AS m) mm;
-- The first 1000 customers of a district take the names 0..999 in turn, the rest a random one,
-- so that every name 0..least(999, customers - 1) exists in every district.
INSERT INTO customer SELECT c, d, w, left(md5(c::text || d || w), 8 + c % 9), 'OE',
  tpcc_last_name(CASE WHEN c <= 1000 THEN c - 1 ELSE (random() * 999)::int END),
  'street ' || c, 'street 2', 'city ' || d, 'ST', '123411111', lpad(c::text, 16, '0'), now(),
  CASE WHEN random() < 0.1 THEN 'BC' ELSE 'GC' END, 50000, round((random() * 0.5)::numeric, 4), -10, 10, 1, 0,
  left(repeat(md5(c::text || w || d), 16), 300 + c % 201)
  FROM generate_series(1, :warehouses) w, generate_series(1, 10) d, generate_series(1, :customers) c;
INSERT INTO history SELECT c, d, w, d, w, now(), 10, 'initial payment'
  FROM generate_series(1, :warehouses) w, generate_series(1, 10) d, generate_series(1, :customers) c;
-- One order per customer, in a random order of customers; orders from :undelivered on are not
-- delivered yet (no carrier, in new_order).
INSERT INTO orders SELECT o, d, w, c, now(), CASE WHEN o < :undelivered THEN 1 + (random() * 9)::int END,
  5 + (random() * 10)::int, 1
  FROM generate_series(1, :warehouses) w, generate_series(1, 10) d,
  (SELECT c, row_number() OVER (ORDER BY random()) AS o FROM generate_series(1, :customers) c) p;
INSERT INTO new_order SELECT o_id, o_d_id, o_w_id FROM orders WHERE o_id >= :undelivered;
INSERT INTO order_line SELECT o_id, o_d_id, o_w_id, l, 1 + (random() * (:items - 1))::int, o_w_id,
  CASE WHEN o_id < :undelivered THEN o_entry_d END, 5,
  CASE WHEN o_id < :undelivered THEN 0 ELSE round((0.01 + random() * 9999.98)::numeric, 2) END,
  repeat(chr(64 + l), 24)
  FROM orders, generate_series(1, o_ol_cnt) l;

-- TPC-C's primary keys, its customer-by-last-name index, and the index on orders by customer that
-- order-status needs to find a customer's last order (TPC-C kits commonly add it).
ALTER TABLE warehouse ADD PRIMARY KEY (w_id);
ALTER TABLE district ADD PRIMARY KEY (d_w_id, d_id);
ALTER TABLE customer ADD PRIMARY KEY (c_w_id, c_d_id, c_id);
CREATE INDEX customer_last_name ON customer (c_w_id, c_d_id, c_last, c_first);
ALTER TABLE orders ADD PRIMARY KEY (o_w_id, o_d_id, o_id);
CREATE INDEX orders_customer ON orders (o_w_id, o_d_id, o_c_id, o_id);
ALTER TABLE new_order ADD PRIMARY KEY (no_w_id, no_d_id, no_o_id);
ALTER TABLE order_line ADD PRIMARY KEY (ol_w_id, ol_d_id, ol_o_id, ol_number);
ALTER TABLE item ADD PRIMARY KEY (i_id);
ALTER TABLE stock ADD PRIMARY KEY (s_w_id, s_i_id);
ANALYZE;
