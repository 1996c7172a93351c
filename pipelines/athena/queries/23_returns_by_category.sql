-- name: returns_by_category
-- description: Return rate and order accuracy per product category over the whole period, from gold_returns_by_category_daily (all currencies together).
SELECT
    category,
    sum(orders) AS orders,
    sum(returned_orders) AS returned_orders,
    CAST(sum(returned_orders) AS DOUBLE) / nullif(sum(orders), 0) AS return_rate,
    1 - CAST(sum(inaccurate_orders) AS DOUBLE) / nullif(sum(orders), 0) AS order_accuracy,
    sum(returned_units) AS returned_units
FROM gold_returns_by_category_daily
GROUP BY category
ORDER BY orders DESC, category
