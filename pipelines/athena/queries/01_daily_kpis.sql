-- name: daily_kpis
-- description: The contract's daily KPIs per (date, currency) computed from the silver tables: orders, gross revenue, payment attempts and failures, payment success, chargeback and return rates, satisfaction. Equals gold_daily_kpis.
-- Rows: every (date, currency) any silver table has. return_rate and satisfaction are figures of
-- the orders of that date: their returns of any date count, and the comments are the order's own
-- and its returns'. Amounts are rounded to cents before they are summed.
WITH cohort AS (
    SELECT order_date AS day, currency, order_id, amount, sentiment_label
    FROM silver_orders
),
returned AS (
    SELECT DISTINCT order_id
    FROM silver_returns
),
order_days AS (
    SELECT
        c.day,
        c.currency,
        count(DISTINCT c.order_id) AS orders,
        sum(round(c.amount, 2)) AS gross_revenue,
        count(DISTINCT r.order_id) AS returned_orders
    FROM cohort AS c
    LEFT JOIN returned AS r ON r.order_id = c.order_id
    GROUP BY c.day, c.currency
),
comments AS (
    SELECT day, currency, sentiment_label
    FROM cohort
    UNION ALL
    SELECT c.day, c.currency, r.sentiment_label
    FROM silver_returns AS r
    JOIN cohort AS c ON c.order_id = r.order_id
),
comment_days AS (
    SELECT
        day,
        currency,
        count_if(sentiment_label = 'Good') AS good,
        count_if(sentiment_label = 'Bad') AS bad
    FROM comments
    GROUP BY day, currency
),
payment_days AS (
    SELECT
        event_date AS day,
        currency,
        count(*) AS attempts,
        count_if(status = 'failed') AS failures,
        count_if(status = 'succeeded') AS succeeded
    FROM silver_payments
    GROUP BY event_date, currency
),
chargeback_days AS (
    SELECT event_date AS day, currency, count(*) AS chargebacks
    FROM silver_chargebacks
    GROUP BY event_date, currency
),
keys AS (
    SELECT day, currency FROM (
        SELECT order_date AS day, currency FROM silver_orders
        UNION
        SELECT event_date, currency FROM silver_payments
        UNION
        SELECT event_date, currency FROM silver_returns
        UNION
        SELECT event_date, currency FROM silver_chargebacks
    ) AS k
    WHERE day IS NOT NULL AND currency IS NOT NULL
)
SELECT
    k.day AS "date",
    k.currency,
    coalesce(o.orders, 0) AS orders,
    coalesce(o.gross_revenue, 0) AS gross_revenue,
    coalesce(p.attempts, 0) AS payment_attempts,
    coalesce(p.failures, 0) AS payment_failures,
    CAST(p.attempts - p.failures AS DOUBLE) / nullif(p.attempts, 0) AS payment_success_rate,
    CAST(coalesce(c.chargebacks, 0) AS DOUBLE) / nullif(p.succeeded, 0) AS chargeback_rate,
    CAST(o.returned_orders AS DOUBLE) / nullif(o.orders, 0) AS return_rate,
    CAST(coalesce(m.good, 0) AS DOUBLE) / nullif(coalesce(m.good, 0) + coalesce(m.bad, 0), 0) AS satisfaction
FROM keys AS k
LEFT JOIN order_days AS o ON o.day = k.day AND o.currency = k.currency
LEFT JOIN comment_days AS m ON m.day = k.day AND m.currency = k.currency
LEFT JOIN payment_days AS p ON p.day = k.day AND p.currency = k.currency
LEFT JOIN chargeback_days AS c ON c.day = k.day AND c.currency = k.currency
ORDER BY 1, 2
