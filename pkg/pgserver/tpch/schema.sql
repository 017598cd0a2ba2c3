-- TPC-H-style tables generated inside the database (no dbgen): a few hundred thousand orders,
-- four line items each. Deterministic: setseed fixes random().
SELECT setseed(0.42);
CREATE TABLE region (r_regionkey int PRIMARY KEY, r_name text NOT NULL);
CREATE TABLE nation (n_nationkey int PRIMARY KEY, n_name text NOT NULL, n_regionkey int NOT NULL);
CREATE TABLE supplier (s_suppkey int PRIMARY KEY, s_name text NOT NULL, s_nationkey int NOT NULL,
  s_acctbal numeric(12,2) NOT NULL);
CREATE TABLE customer (c_custkey int PRIMARY KEY, c_name text NOT NULL, c_nationkey int NOT NULL,
  c_mktsegment text NOT NULL, c_acctbal numeric(12,2) NOT NULL);
CREATE TABLE part (p_partkey int PRIMARY KEY, p_name text NOT NULL, p_brand text NOT NULL,
  p_type text NOT NULL, p_size int NOT NULL, p_retailprice numeric(12,2) NOT NULL);
CREATE TABLE orders (o_orderkey int PRIMARY KEY, o_custkey int NOT NULL, o_orderstatus char NOT NULL,
  o_totalprice numeric(12,2) NOT NULL, o_orderdate date NOT NULL, o_orderpriority text NOT NULL);
CREATE TABLE lineitem (l_orderkey int NOT NULL, l_linenumber int NOT NULL, l_partkey int NOT NULL,
  l_suppkey int NOT NULL, l_quantity numeric(12,2) NOT NULL, l_extendedprice numeric(12,2) NOT NULL,
  l_discount numeric(12,2) NOT NULL, l_tax numeric(12,2) NOT NULL, l_returnflag char NOT NULL,
  l_linestatus char NOT NULL, l_shipdate date NOT NULL, l_commitdate date NOT NULL,
  l_receiptdate date NOT NULL, l_shipmode text NOT NULL);

INSERT INTO region SELECT i, (ARRAY['AFRICA','AMERICA','ASIA','EUROPE','MIDDLE EAST'])[i + 1]
  FROM generate_series(0, 4) i;
INSERT INTO nation SELECT i, 'NATION' || i, i % 5 FROM generate_series(0, 24) i;
INSERT INTO supplier SELECT i, 'Supplier#' || i, i % 25, round((random() * 11000 - 1000)::numeric, 2)
  FROM generate_series(1, :suppliers) i;
INSERT INTO customer SELECT i, 'Customer#' || i, (i * 7) % 25,
  (ARRAY['AUTOMOBILE','BUILDING','FURNITURE','MACHINERY','HOUSEHOLD'])[1 + i % 5],
  round((random() * 11000 - 1000)::numeric, 2)
  FROM generate_series(1, :customers) i;
INSERT INTO part SELECT i, 'part ' || md5(i::text), 'Brand#' || (1 + i % 5) || (1 + i % 7),
  (ARRAY['STANDARD','SMALL','MEDIUM','LARGE','ECONOMY','PROMO'])[1 + i % 6] || ' ' ||
  (ARRAY['ANODIZED','BURNISHED','PLATED','POLISHED','BRUSHED'])[1 + (i / 6) % 5] || ' ' ||
  (ARRAY['TIN','NICKEL','BRASS','STEEL','COPPER'])[1 + (i / 30) % 5],
  1 + i % 50, 900 + (i % 1000) + 0.01 * (i % 100)
  FROM generate_series(1, :parts) i;
INSERT INTO orders SELECT i, 1 + (i::bigint * 7919) % :customers, (ARRAY['F','O','P'])[1 + i % 3], 0,
  date '1992-01-01' + (random() * 2400)::int,
  (ARRAY['1-URGENT','2-HIGH','3-MEDIUM','4-NOT SPECIFIED','5-LOW'])[1 + i % 5]
  FROM generate_series(1, :orders) i;
INSERT INTO lineitem
SELECT o.o_orderkey, l, 1 + (o.o_orderkey * 31 + l * 17) % :parts, 1 + (o.o_orderkey * 13 + l) % :suppliers,
  q, round(q * (900 + (o.o_orderkey + l) % 1000)::numeric, 2), (l % 11) / 100.0, (l % 9) / 100.0,
  CASE WHEN o.o_orderdate < date '1995-06-17' THEN (ARRAY['R','A'])[1 + o.o_orderkey % 2] ELSE 'N' END,
  CASE WHEN o.o_orderdate < date '1995-06-17' THEN 'F' ELSE 'O' END,
  o.o_orderdate + 1 + (o.o_orderkey + l) % 120, o.o_orderdate + 30 + (o.o_orderkey * l) % 60,
  o.o_orderdate + 2 + (o.o_orderkey + l) % 150,
  (ARRAY['AIR','FOB','MAIL','RAIL','REG AIR','SHIP','TRUCK'])[1 + (o.o_orderkey + l) % 7]
FROM orders o, generate_series(1, 4) l, LATERAL (SELECT (1 + (o.o_orderkey * l) % 50)::numeric AS q) qq;
ANALYZE;
