-- name: cash_flow_forecast
-- description: The cash-flow forecast per (date, currency) ahead with its interval, beside the actual net where that day has already happened.
SELECT
    f."date",
    f.currency,
    f.net_forecast,
    f.net_lower,
    f.net_upper,
    a.net AS net_actual,
    f.model,
    f."interval",
    f.generated_at
FROM gold_cash_flow_forecast AS f
LEFT JOIN gold_cash_flow_daily AS a ON a."date" = f."date" AND a.currency = f.currency
ORDER BY f.currency, f."date"
