-- name: revenue_by_dimension
-- description: Orders, units and revenue over the whole period per dimension of gold_revenue_daily (source, region, category...) and value, per currency, largest first.
SELECT
    dimension,
    value,
    currency,
    sum(orders) AS orders,
    sum(units) AS units,
    sum(revenue) AS revenue
FROM gold_revenue_daily
GROUP BY dimension, value, currency
ORDER BY dimension, revenue DESC, value, currency
