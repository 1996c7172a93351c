-- name: fraud_daily
-- description: Fraud signals per day from gold_fraud_daily, all currencies together: chargebacks, fraudulent chargebacks, fraud-suspected declines and orders with repeated failed payments.
SELECT
    "date",
    sum(chargebacks) AS chargebacks,
    sum(fraud_chargebacks) AS fraud_chargebacks,
    sum(fraud_declines) AS fraud_declines,
    sum(orders_with_repeated_failures) AS orders_with_repeated_failures
FROM gold_fraud_daily
GROUP BY "date"
ORDER BY 1
