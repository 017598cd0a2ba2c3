-- TPC-C-like new-order (45 % of the mix): a short, write-heavy transaction. It reads the warehouse
-- and the customer, takes the district's next order number, enters the order and its lines, and
-- updates each line's stock. pgbench scripts cannot loop, so every order has {{len .Lines}} lines (TPC-C
-- draws 5-15, average 10), all supplied by the home warehouse (TPC-C: 1 % remote), and no order
-- is rolled back (TPC-C: 1 % name an unused item and roll back). Inputs: TPC-C's NURand for the
-- customer (A 1023) and the items (A 8191).
\set w_id random(1, :warehouses)
\set d_id random(1, 10)
\set c_id 1 + (((random(0, 1023) | random(1, :customers)) + 259) % :customers)
{{range .Lines}}\set i{{.}} 1 + (((random(0, 8191) | random(1, :items)) + 7911) % :items)
\set q{{.}} random(1, 10)
{{end -}}
BEGIN;
SELECT w_tax, c_discount, c_last, c_credit FROM warehouse, customer
  WHERE w_id = :w_id AND c_w_id = :w_id AND c_d_id = :d_id AND c_id = :c_id;
UPDATE district SET d_next_o_id = d_next_o_id + 1 WHERE d_w_id = :w_id AND d_id = :d_id
  RETURNING d_next_o_id - 1 AS o_id, d_tax \gset
INSERT INTO orders (o_id, o_d_id, o_w_id, o_c_id, o_entry_d, o_carrier_id, o_ol_cnt, o_all_local)
  VALUES (:o_id, :d_id, :w_id, :c_id, now(), NULL, {{len .Lines}}, 1);
INSERT INTO new_order (no_o_id, no_d_id, no_w_id) VALUES (:o_id, :d_id, :w_id);
-- Lock the stock rows in item order, as TPC-C kits sort an order's items, so that concurrent
-- new-orders cannot deadlock.
SELECT s_i_id FROM stock WHERE s_w_id = :w_id
  AND s_i_id IN ({{range $i, $l := .Lines}}{{if $i}}, {{end}}:i{{$l}}{{end}}) ORDER BY s_i_id FOR UPDATE;
{{range .Lines}}WITH s AS (
  UPDATE stock SET s_quantity = CASE WHEN s_quantity >= :q{{.}} + 10 THEN s_quantity - :q{{.}} ELSE s_quantity - :q{{.}} + 91 END,
    s_ytd = s_ytd + :q{{.}}, s_order_cnt = s_order_cnt + 1
  WHERE s_w_id = :w_id AND s_i_id = :i{{.}}
  RETURNING (ARRAY[s_dist_01, s_dist_02, s_dist_03, s_dist_04, s_dist_05, s_dist_06, s_dist_07, s_dist_08,
    s_dist_09, s_dist_10])[:d_id] AS dist)
INSERT INTO order_line (ol_o_id, ol_d_id, ol_w_id, ol_number, ol_i_id, ol_supply_w_id, ol_delivery_d,
    ol_quantity, ol_amount, ol_dist_info)
  SELECT :o_id, :d_id, :w_id, {{.}}, :i{{.}}, :w_id, NULL, :q{{.}}, :q{{.}} * i_price, s.dist FROM item, s WHERE i_id = :i{{.}};
{{end -}}
COMMIT;
