-- TPC-C-like payment (43 % of the mix): a short write transaction on the warehouse, the district
-- and the customer, and a history row. 60 % of customers are found by last name (the one in the
-- middle of those with that name, by first name), as in TPC-C; all pay at their home warehouse
-- and district (TPC-C: 15 % at a remote warehouse).
\set w_id random(1, :warehouses)
\set d_id random(1, 10)
\set c_id 1 + (((random(0, 1023) | random(1, :customers)) + 259) % :customers)
\set names least(1000, :customers)
\set name ((random(0, 255) | random(0, :names - 1)) + 223) % :names
\set amount random(100, 500000)
BEGIN;
UPDATE warehouse SET w_ytd = w_ytd + :amount / 100.0 WHERE w_id = :w_id;
UPDATE district SET d_ytd = d_ytd + :amount / 100.0 WHERE d_w_id = :w_id AND d_id = :d_id;
\if random(1, 100) <= 60
SELECT c_id FROM (SELECT c_id, row_number() OVER (ORDER BY c_first) AS rank, count(*) OVER () AS n
    FROM customer WHERE c_w_id = :w_id AND c_d_id = :d_id AND c_last = tpcc_last_name(:name)) named
  WHERE rank = (n + 1) / 2 \gset
\endif
UPDATE customer SET c_balance = c_balance - :amount / 100.0, c_ytd_payment = c_ytd_payment + :amount / 100.0,
    c_payment_cnt = c_payment_cnt + 1,
    c_data = CASE WHEN c_credit = 'BC' THEN left(:c_id || ' ' || :d_id || ' ' || :w_id || ' ' || :amount || ' ' || c_data, 500)
      ELSE c_data END
  WHERE c_w_id = :w_id AND c_d_id = :d_id AND c_id = :c_id;
INSERT INTO history (h_c_id, h_c_d_id, h_c_w_id, h_d_id, h_w_id, h_date, h_amount, h_data)
  SELECT :c_id, :d_id, :w_id, :d_id, :w_id, now(), :amount / 100.0, w_name || '    ' || d_name
  FROM warehouse, district WHERE w_id = :w_id AND d_w_id = :w_id AND d_id = :d_id;
COMMIT;
