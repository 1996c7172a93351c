-- name: top_products
-- description: The 50 best-selling products by units over the whole period, from gold_product_sales_daily: units sold and returned, net units, orders and revenue per currency.
SELECT
    product_id,
    category,
    currency,
    sum(units_sold) AS units_sold,
    sum(units_returned) AS units_returned,
    sum(net_units) AS net_units,
    sum(orders) AS orders,
    sum(revenue) AS revenue
FROM gold_product_sales_daily
GROUP BY product_id, category, currency
ORDER BY units_sold DESC, product_id, currency
LIMIT 50
