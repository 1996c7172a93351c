-- name: sentiment_trend
-- description: Comment sentiment per day for order and return comments: Good, Neutral and Bad counts, satisfaction (Good / (Good + Bad)) and the mean compound score.
WITH comments AS (
    SELECT order_date AS day, 'order' AS kind, sentiment_label, sentiment_score
    FROM silver_orders
    WHERE sentiment_label IS NOT NULL
    UNION ALL
    SELECT event_date, 'return', sentiment_label, sentiment_score
    FROM silver_returns
    WHERE sentiment_label IS NOT NULL
)
SELECT
    day AS "date",
    kind,
    count(*) AS comments,
    count_if(sentiment_label = 'Good') AS good,
    count_if(sentiment_label = 'Neutral') AS neutral,
    count_if(sentiment_label = 'Bad') AS bad,
    CAST(count_if(sentiment_label = 'Good') AS DOUBLE)
        / nullif(count_if(sentiment_label IN ('Good', 'Bad')), 0) AS satisfaction,
    avg(sentiment_score) AS mean_score
FROM comments
GROUP BY day, kind
ORDER BY 1, 2
