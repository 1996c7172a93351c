-- name: payment_method_performance
-- description: Payment attempts, successes, failures and success rate per payment method, with the orders it paid and attempts per order.
SELECT
    payment_method,
    count(*) AS attempts,
    count_if(status = 'succeeded') AS succeeded,
    count_if(status = 'failed') AS failed,
    CAST(count_if(status = 'succeeded') AS DOUBLE) / count(*) AS success_rate,
    count(DISTINCT order_id) AS orders,
    CAST(count(*) AS DOUBLE) / count(DISTINCT order_id) AS attempts_per_order
FROM silver_payments
GROUP BY payment_method
ORDER BY attempts DESC, payment_method
