-- name: return_reasons_by_category
-- description: Returns per product category and reason over the whole period from gold_return_reasons_daily, with each reason's share of the category's returns.
SELECT
    category,
    reason_code,
    sum(returns) AS returns,
    sum(returned_units) AS returned_units,
    CAST(sum(returns) AS DOUBLE) / sum(sum(returns)) OVER (PARTITION BY category) AS share_of_category
FROM gold_return_reasons_daily
GROUP BY category, reason_code
ORDER BY category, returns DESC, reason_code
