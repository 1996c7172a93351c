-- name: return_reasons
-- description: Returns by reason code: count, orders, share of all returns, mean comment sentiment and how many comments were Bad.
SELECT
    reason_code,
    count(*) AS returns,
    count(DISTINCT order_id) AS orders,
    CAST(count(*) AS DOUBLE) / sum(count(*)) OVER () AS share_of_returns,
    avg(sentiment_score) AS mean_sentiment,
    count_if(sentiment_label = 'Bad') AS bad_comments
FROM silver_returns
GROUP BY reason_code
ORDER BY returns DESC, reason_code
