-- name: pipeline_health
-- description: The streaming job per day from gold_pipeline_metrics: micro-batches, rows in, mean and worst end-to-end latency, worst freshness, quarantine rate and notifications sent.
SELECT
    "date",
    query_name,
    count(*) AS batches,
    sum(input_rows) AS input_rows,
    avg(end_to_end_latency_seconds) AS mean_latency_seconds,
    max(end_to_end_latency_seconds) AS max_latency_seconds,
    max(freshness_seconds) AS max_freshness_seconds,
    CAST(sum(quarantined_rows) AS DOUBLE) / nullif(sum(input_rows), 0) AS quarantine_rate,
    sum(notifications) AS notifications
FROM gold_pipeline_metrics
GROUP BY "date", query_name
ORDER BY 1, 2
