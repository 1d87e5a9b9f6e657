-- The pending-order sweeper's scan (sweeper.go): pending orders by placement time, and
-- nothing else, so a sweep costs the orders it may cancel, not the whole table.
create index orders_pending on orders.orders (created_at) where status = 'pending';
