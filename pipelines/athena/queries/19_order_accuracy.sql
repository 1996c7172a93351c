-- name: order_accuracy
-- description: Order accuracy per order day: the share of orders with no return for a damaged, wrong or missing item.
WITH inaccurate AS (
    SELECT DISTINCT order_id
    FROM silver_returns
    WHERE reason_code IN ('damaged', 'wrong_item', 'missing_item')
)
SELECT
    o.order_date AS "date",
    count(*) AS orders,
    count(i.order_id) AS inaccurate_orders,
    1 - CAST(count(i.order_id) AS DOUBLE) / count(*) AS order_accuracy
FROM silver_orders AS o
LEFT JOIN inaccurate AS i ON i.order_id = o.order_id
GROUP BY o.order_date
ORDER BY 1
