-- TPC-C-like order-status (4 % of the mix): read-only; a customer (60 % by last name, as in
-- payment), their last order and its lines.
\set w_id random(1, :warehouses)
\set d_id random(1, 10)
\set c_id 1 + (((random(0, 1023) | random(1, :customers)) + 259) % :customers)
\set names least(1000, :customers)
\set name ((random(0, 255) | random(0, :names - 1)) + 223) % :names
BEGIN;
\if random(1, 100) <= 60
SELECT c_id FROM (SELECT c_id, row_number() OVER (ORDER BY c_first) AS rank, count(*) OVER () AS n
    FROM customer WHERE c_w_id = :w_id AND c_d_id = :d_id AND c_last = tpcc_last_name(:name)) named
  WHERE rank = (n + 1) / 2 \gset
\endif
SELECT c_balance, c_first, c_middle, c_last FROM customer WHERE c_w_id = :w_id AND c_d_id = :d_id AND c_id = :c_id;
SELECT o_id, o_entry_d, o_carrier_id FROM orders WHERE o_w_id = :w_id AND o_d_id = :d_id AND o_c_id = :c_id
  ORDER BY o_id DESC LIMIT 1;
SELECT ol_i_id, ol_supply_w_id, ol_quantity, ol_amount, ol_delivery_d FROM order_line
  WHERE ol_w_id = :w_id AND ol_d_id = :d_id AND ol_o_id = (SELECT max(o_id) FROM orders
    WHERE o_w_id = :w_id AND o_d_id = :d_id AND o_c_id = :c_id);
COMMIT;
