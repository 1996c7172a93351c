-- name: ingestion_daily
-- description: Records received per ingestion day from bronze_order_events: records, distinct event ids, repeated event ids (duplicates, kept in bronze and dropped from silver) and records quarantined.
WITH received AS (
    SELECT
        ingest_date,
        count(*) AS records,
        count(DISTINCT event_id) AS distinct_events,
        count(event_id) - count(DISTINCT event_id) AS repeated_event_ids
    FROM bronze_order_events
    GROUP BY ingest_date
),
rejected AS (
    SELECT ingest_date, count(*) AS quarantined
    FROM quarantine_order_events
    GROUP BY ingest_date
)
SELECT
    r.ingest_date,
    r.records,
    r.distinct_events,
    r.repeated_event_ids,
    coalesce(q.quarantined, 0) AS quarantined
FROM received AS r
LEFT JOIN rejected AS q ON q.ingest_date = r.ingest_date
ORDER BY 1
