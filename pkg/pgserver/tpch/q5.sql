-- TPC-H Q5: local supplier volume (six-way join, aggregation).
\set region random(0, 4)
\set year random(1993, 1997)
SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue
FROM customer, orders, lineitem, supplier, nation, region
WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey
  AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey
  AND r_regionkey = :region
  AND o_orderdate >= make_date(:year, 1, 1) AND o_orderdate < make_date(:year + 1, 1, 1)
GROUP BY n_name
ORDER BY revenue DESC;
