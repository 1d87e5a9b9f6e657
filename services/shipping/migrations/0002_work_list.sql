-- Staff's shipments to work on (GET /v1/admin/shipments): by status, oldest first by
-- (created_at, id). Each page of one status reads its rows from this index and stops;
-- several statuses are one such scan each, merged.
create index if not exists shipments_by_status on shipping.shipments (status, created_at, id);
-- "if not exists": built beforehand with create index concurrently on a large table, it is found.
