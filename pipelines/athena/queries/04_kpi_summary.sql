-- name: kpi_summary
-- description: The whole period per currency from the gold tables: orders, gross revenue, net cash flow, payment success rate, chargeback rate (chargebacks per succeeded payment) and return rate weighted by orders.
WITH kpis AS (
    SELECT
        currency,
        sum(orders) AS orders,
        sum(gross_revenue) AS gross_revenue,
        sum(payment_attempts) AS payment_attempts,
        sum(payment_failures) AS payment_failures,
        sum(chargeback_rate * (payment_attempts - payment_failures)) AS chargebacks,
        sum(return_rate * orders) AS returned_orders
    FROM gold_daily_kpis
    GROUP BY currency
),
cash AS (
    SELECT currency, sum(net) AS net
    FROM gold_cash_flow_daily
    GROUP BY currency
)
SELECT
    k.currency,
    k.orders,
    round(k.gross_revenue, 2) AS gross_revenue,
    round(c.net, 2) AS net_cash_flow,
    round(CAST(k.payment_attempts - k.payment_failures AS DOUBLE) / nullif(k.payment_attempts, 0), 4)
        AS payment_success_rate,
    round(k.chargebacks / nullif(k.payment_attempts - k.payment_failures, 0), 4) AS chargeback_rate,
    round(k.returned_orders / nullif(k.orders, 0), 4) AS return_rate
FROM kpis AS k
LEFT JOIN cash AS c ON c.currency = k.currency
ORDER BY k.orders DESC, k.currency
