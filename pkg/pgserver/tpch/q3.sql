-- TPC-H Q3: shipping priority (three-way join, aggregation, top 10).
\set seg random(0, 4)
\set day random(0, 30)
SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, o_orderdate, o_orderpriority
FROM customer, orders, lineitem
WHERE c_mktsegment = (ARRAY['AUTOMOBILE','BUILDING','FURNITURE','MACHINERY','HOUSEHOLD'])[1 + :seg]
  AND c_custkey = o_custkey AND l_orderkey = o_orderkey
  AND o_orderdate < date '1995-03-01' + :day AND l_shipdate > date '1995-03-01' + :day
GROUP BY l_orderkey, o_orderdate, o_orderpriority
ORDER BY revenue DESC, o_orderdate
LIMIT 10;
