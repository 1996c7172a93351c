-- name: revenue_by_region
-- description: Orders and gross revenue per 10-degree latitude/longitude cell of the delivery location and currency (the south-west corner names the cell).
SELECT
    CAST(floor(lat / 10) * 10 AS INTEGER) AS lat_cell,
    CAST(floor(lon / 10) * 10 AS INTEGER) AS lon_cell,
    currency,
    count(*) AS orders,
    sum(amount) AS gross_revenue
FROM silver_orders
WHERE lat IS NOT NULL AND lon IS NOT NULL
GROUP BY 1, 2, 3
ORDER BY orders DESC, lat_cell, lon_cell, currency
