-- name: forecast_accuracy
-- description: The latest backtest of the cash-flow forecast per currency and model, from gold_forecast_backtest: MASE, sMAPE, WAPE and the interval's observed coverage.
SELECT
    currency,
    model,
    mase,
    smape,
    wape,
    coverage,
    "interval",
    origins,
    horizon_days,
    generated_at
FROM gold_forecast_backtest
WHERE generated_at = (SELECT max(generated_at) FROM gold_forecast_backtest)
ORDER BY currency, model
