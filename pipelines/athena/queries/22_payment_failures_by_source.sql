-- name: payment_failures_by_source
-- description: Failed payments over the whole period from gold_payment_failures_daily by integration, failure code and payment method: failures, orders hit and failed amount per currency.
SELECT
    source,
    failure_code,
    payment_method,
    currency,
    sum(failures) AS failures,
    sum(orders) AS orders,
    sum(amount) AS amount
FROM gold_payment_failures_daily
GROUP BY source, failure_code, payment_method, currency
ORDER BY failures DESC, source, failure_code, payment_method, currency
