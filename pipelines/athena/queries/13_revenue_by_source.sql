-- name: revenue_by_source
-- description: Orders, gross revenue and mean order value per integration (source) and currency, with the share of those orders that were returned.
WITH returned AS (
    SELECT DISTINCT order_id
    FROM silver_returns
)
SELECT
    o.source,
    o.currency,
    count(*) AS orders,
    sum(o.amount) AS gross_revenue,
    avg(o.amount) AS mean_order_value,
    CAST(count(r.order_id) AS DOUBLE) / count(*) AS return_rate
FROM silver_orders AS o
LEFT JOIN returned AS r ON r.order_id = o.order_id
GROUP BY o.source, o.currency
ORDER BY orders DESC, o.source, o.currency
