-- name: chargebacks_and_fraud
-- description: Chargebacks by reason code and the payment method of the charged-back payment: count, orders, and chargebacks per succeeded payment of that method.
WITH succeeded AS (
    SELECT payment_method, count(*) AS payments
    FROM silver_payments
    WHERE status = 'succeeded'
    GROUP BY payment_method
),
charged AS (
    SELECT c.reason_code, coalesce(p.payment_method, 'unknown') AS payment_method, c.order_id
    FROM silver_chargebacks AS c
    LEFT JOIN silver_payments AS p ON p.transaction_id = c.transaction_id AND p.status = 'succeeded'
)
SELECT
    ch.reason_code,
    ch.payment_method,
    count(*) AS chargebacks,
    count(DISTINCT ch.order_id) AS orders,
    CAST(count(*) AS DOUBLE) / nullif(max(s.payments), 0) AS per_succeeded_payment
FROM charged AS ch
LEFT JOIN succeeded AS s ON s.payment_method = ch.payment_method
GROUP BY ch.reason_code, ch.payment_method
ORDER BY chargebacks DESC, ch.reason_code, ch.payment_method
