-- name: cash_flow_daily
-- description: The contract's daily cash flow per (date, currency) computed from the silver tables: inflow (succeeded payments), refunds, chargebacks and net. Equals gold_cash_flow_daily.
-- Rows: every (date, currency) any silver table has (zeros where no money moved), as in
-- gold_daily_kpis. Amounts are rounded to cents before they are summed.
WITH flows AS (
    SELECT
        event_date AS day,
        currency,
        CASE WHEN status = 'succeeded' THEN round(amount, 2) ELSE 0 END AS inflow,
        CAST(0 AS DOUBLE) AS refunds,
        CAST(0 AS DOUBLE) AS chargebacks
    FROM silver_payments
    UNION ALL
    SELECT event_date, currency, CAST(0 AS DOUBLE), round(refund_amount, 2), CAST(0 AS DOUBLE)
    FROM silver_returns
    UNION ALL
    SELECT event_date, currency, CAST(0 AS DOUBLE), CAST(0 AS DOUBLE), round(amount, 2)
    FROM silver_chargebacks
    UNION ALL
    SELECT order_date, currency, CAST(0 AS DOUBLE), CAST(0 AS DOUBLE), CAST(0 AS DOUBLE)
    FROM silver_orders
)
SELECT
    day AS "date",
    currency,
    sum(inflow) AS inflow,
    sum(refunds) AS refunds,
    sum(chargebacks) AS chargebacks,
    sum(inflow) - sum(refunds) - sum(chargebacks) AS net
FROM flows
WHERE day IS NOT NULL AND currency IS NOT NULL
GROUP BY day, currency
ORDER BY 1, 2
