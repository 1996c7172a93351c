-- name: order_status
-- description: Orders by current status: count, share, and the median hours from the order to its latest status.
SELECT
    status,
    count(*) AS orders,
    CAST(count(*) AS DOUBLE) / sum(count(*)) OVER () AS share_of_orders,
    approx_percentile(date_diff('second', order_time, status_time) / 3600.0, 0.5) AS median_hours_to_status
FROM silver_orders
GROUP BY status
ORDER BY orders DESC, status
