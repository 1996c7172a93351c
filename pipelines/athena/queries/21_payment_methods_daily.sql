-- name: payment_methods_daily
-- description: Payment method performance per day from gold_payment_methods_daily, all currencies together: attempts, failures, success rate and attempts per paid order.
SELECT
    "date",
    payment_method,
    sum(attempts) AS attempts,
    sum(failures) AS failures,
    CAST(sum(attempts) - sum(failures) AS DOUBLE) / nullif(sum(attempts), 0) AS success_rate,
    CAST(sum(attempts) AS DOUBLE) / nullif(sum(orders_paid), 0) AS attempts_per_paid_order
FROM gold_payment_methods_daily
GROUP BY "date", payment_method
ORDER BY 1, 2
