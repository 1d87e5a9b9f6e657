-- The shipping service's schema: one shipment per paid order, with its status history.
-- The shipment row is the lock of its moves: a staff move, a cancellation and a carrier's
-- booking of one shipment are applied one after the other.
create table shipping.shipments (
    id               uuid primary key,
    -- order_id is unique: an order.paid delivered twice (or republished under another event
    -- id) finds its shipment and creates none.
    order_id         uuid not null unique,
    user_id          uuid not null,
    status           text not null check (status in ('pending', 'packed', 'shipped', 'in_transit', 'delivered', 'cancelled')),
    carrier          text not null,
    tracking_number  text,
    cancel_reason    text,
    lines            jsonb not null,
    shipping_address jsonb,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    -- a parcel that left has a tracking number
    check (status not in ('shipped', 'in_transit', 'delivered') or tracking_number is not null)
);

create table shipping.history (
    shipment_id     uuid not null references shipping.shipments (id),
    seq             int not null,
    status          text not null,
    reason          text,
    tracking_number text,
    at              timestamptz not null default now(),
    primary key (shipment_id, seq)
);

-- cancelled_orders remembers orders cancelled before their shipment was created (the
-- order.cancelled event was applied before, or without, the order.paid one), so that a late
-- order.paid creates no shipment for them.
create table shipping.cancelled_orders (
    order_id uuid primary key,
    reason   text,
    at       timestamptz not null default now()
);
