-- name: quarantine_reasons
-- description: Rejected records by reason (a record with several reasons counts under each), with the share of quarantined records and when each reason was first and last seen.
SELECT
    r.reason,
    count(*) AS records,
    CAST(count(*) AS DOUBLE) / (SELECT count(*) FROM quarantine_order_events) AS share_of_quarantined,
    min(q.ingested_at) AS first_seen,
    max(q.ingested_at) AS last_seen
FROM quarantine_order_events AS q
CROSS JOIN UNNEST(q.reasons) AS r (reason)
GROUP BY r.reason
ORDER BY records DESC, r.reason
