-- name: failed_payment_diagnostics
-- description: Failed payments by failure code and payment method: how many, how many orders they hit, their share of all failures, and when they were first and last seen.
SELECT
    coalesce(failure_code, 'unknown') AS failure_code,
    payment_method,
    count(*) AS failures,
    count(DISTINCT order_id) AS orders_affected,
    CAST(count(*) AS DOUBLE) / sum(count(*)) OVER () AS share_of_failures,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen
FROM silver_payments
WHERE status = 'failed'
GROUP BY coalesce(failure_code, 'unknown'), payment_method
ORDER BY failures DESC, failure_code, payment_method
