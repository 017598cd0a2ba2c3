-- TPC-C-like delivery (4 % of the mix): for each of the warehouse's ten districts, deliver the
-- oldest undelivered order: remove it from new_order, set its carrier and its lines' delivery
-- date, and add its amount to the customer's balance. One statement; a district whose oldest
-- order a concurrent delivery took is skipped, as TPC-C allows.
\set w_id random(1, :warehouses)
\set carrier random(1, 10)
BEGIN;
WITH oldest AS (
  SELECT d, (SELECT min(no_o_id) FROM new_order WHERE no_w_id = :w_id AND no_d_id = d) AS first_o_id
  FROM generate_series(1, 10) d),
delivered AS (
  DELETE FROM new_order USING oldest
  WHERE no_w_id = :w_id AND no_d_id = oldest.d AND no_o_id = oldest.first_o_id
  RETURNING no_d_id, no_o_id),
ord AS (
  UPDATE orders SET o_carrier_id = :carrier FROM delivered
  WHERE o_w_id = :w_id AND o_d_id = no_d_id AND o_id = no_o_id
  RETURNING o_d_id, o_id, o_c_id),
lines AS (
  UPDATE order_line SET ol_delivery_d = now() FROM delivered
  WHERE ol_w_id = :w_id AND ol_d_id = no_d_id AND ol_o_id = no_o_id
  RETURNING ol_d_id, ol_o_id, ol_amount),
amounts AS (
  SELECT o_d_id, o_c_id, sum(ol_amount) AS amount
  FROM ord JOIN lines ON ol_d_id = o_d_id AND ol_o_id = o_id GROUP BY o_d_id, o_c_id)
UPDATE customer SET c_balance = c_balance + amount, c_delivery_cnt = c_delivery_cnt + 1
  FROM amounts WHERE c_w_id = :w_id AND c_d_id = o_d_id AND c_id = o_c_id;
COMMIT;
