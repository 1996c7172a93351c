-- name: fulfilment_times
-- description: Hours from the order to each status update (confirmed, packed, shipped, delivered, cancelled) from silver_order_updates: updates, median and 90th percentile.
SELECT
    u.status,
    count(*) AS updates,
    approx_percentile(date_diff('second', o.order_time, u.event_time) / 3600.0, 0.5) AS median_hours_after_order,
    approx_percentile(date_diff('second', o.order_time, u.event_time) / 3600.0, 0.9) AS p90_hours_after_order
FROM silver_order_updates AS u
JOIN silver_orders AS o ON o.order_id = u.order_id
GROUP BY u.status
ORDER BY median_hours_after_order, u.status
