-- The inventory schema (search_path is "inventory"): stock per SKU and reservations per order.

-- One row per SKU that has ever had a count. An unknown SKU has no row and no stock.
-- The CHECK is the last guard of "never oversold": whatever the code does, available
-- (on_hand - reserved) cannot go below zero in a committed row.
create table stock (
    sku         text primary key,
    on_hand     bigint not null default 0,
    reserved    bigint not null default 0,
    version     bigint not null default 0,      -- +1 per change; stock_changed carries it
    updated_at  timestamptz not null default now(),
    constraint stock_counts check (reserved >= 0 and reserved <= on_hand)
);

-- One row per order the service has heard of, whatever became of it: the order id is the
-- idempotency key of every transition. A cancellation that arrives before the placement
-- leaves a released row without lines (a tombstone), so the late placement holds nothing.
create table reservations (
    order_id    uuid primary key,
    status      text not null check (status in ('held', 'rejected', 'committed', 'released', 'expired')),
    expires_at  timestamptz,                    -- the payment deadline of a hold; null when none
    reason      text not null default '',       -- why it was rejected: out_of_stock
    short       text[] not null default '{}',   -- the SKUs that lacked stock
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
-- The sweeper's scan: held reservations by deadline, and nothing else.
create index reservations_held_expiry on reservations (expires_at) where status = 'held';

-- The lines of a reservation, one per SKU (an order's lines of one SKU are summed). No foreign
-- key: its check would cost a lookup per line on the hot path, and lines are only ever
-- written beside their reservation, in one statement batch.
create table reservation_lines (
    order_id    uuid not null,
    sku         text not null,
    quantity    bigint not null check (quantity > 0),
    primary key (order_id, sku)
);
