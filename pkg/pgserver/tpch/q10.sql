-- TPC-H Q10: returned item reporting (four-way join, aggregation, top 20).
\set month random(0, 23)
SELECT c_custkey, c_name, sum(l_extendedprice * (1 - l_discount)) AS revenue, c_acctbal, n_name
FROM customer, orders, lineitem, nation
WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey
  AND o_orderdate >= date '1993-10-01' + :month * interval '1 month'
  AND o_orderdate < date '1993-10-01' + (:month + 3) * interval '1 month'
  AND l_returnflag = 'R' AND c_nationkey = n_nationkey
GROUP BY c_custkey, c_name, c_acctbal, n_name
ORDER BY revenue DESC
LIMIT 20;
