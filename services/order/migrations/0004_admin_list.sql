-- Staff's list of every order (GET /v1/admin/orders), newest first by (created_at, id): an
-- index in that order for the whole list and its time range, and one per status for the
-- status filter (several statuses are one scan per status, merged). A customer's orders
-- use orders_by_user (0001). Each page reads its rows from the index and stops: no sort of
-- the table, whatever its size.
create index if not exists orders_by_created on orders.orders (created_at desc, id desc);
create index if not exists orders_by_status on orders.orders (status, created_at desc, id desc);
-- "if not exists": on a large table, build them beforehand with create index concurrently
-- (a migration runs in a transaction, which concurrently cannot), and this finds them.
