-- name: quality_checks
-- description: Data-quality expectations per silver table from quality_metrics: runs, failed runs, rows checked, unexpected rows, and the latest result.
SELECT
    table_name,
    expectation,
    count(*) AS runs,
    count_if(NOT success) AS failed_runs,
    sum(element_count) AS rows_checked,
    sum(unexpected_count) AS unexpected_rows,
    max(evaluated_at) AS last_evaluated,
    max_by(success, evaluated_at) AS last_success
FROM quality_metrics
GROUP BY table_name, expectation
ORDER BY failed_runs DESC, table_name, expectation
