-- The promotion service's schema: coupons and their redemptions.

-- Coupons never change once created (no update endpoint), so a redemption can point at one
-- and price itself from it. Codes are stored upper case; lookups upper-case the input.
create table coupons (
    id                 uuid primary key, -- UUIDv7: time-ordered, the list's keyset
    code               text not null unique check (code ~ '^[A-Z0-9_-]{3,32}$'),
    kind               text not null check (kind in ('percent', 'fixed')),
    value              bigint not null check (value > 0 and (kind <> 'percent' or value <= 100)),
    currency           text check (currency ~ '^[A-Z]{3}$'),
    min_subtotal       bigint check (min_subtotal >= 0),
    starts_at          timestamptz,
    ends_at            timestamptz,
    max_redemptions    bigint check (max_redemptions >= 1),
    per_customer_limit bigint check (per_customer_limit >= 1),
    created_at         timestamptz not null default now(),
    check (ends_at > starts_at),
    check (kind <> 'fixed' or currency is not null),
    check (min_subtotal is null or currency is not null)
);

-- One redemption per order (the primary key makes a second hold for an order find the
-- first). held → confirmed (order.placed) → redeemed (order.paid); returned from any of them
-- (order.cancelled: reason cancelled; the sweeper: reason expired). A tombstone is a
-- returned row without a coupon: the order was cancelled before any hold was seen, and a
-- later hold for it is refused.
create table redemptions (
    order_id   uuid primary key,
    coupon_id  uuid references coupons (id),
    user_id    text not null,
    code       text not null,
    status     text not null check (status in ('held', 'confirmed', 'redeemed', 'returned')),
    reason     text check (reason in ('cancelled', 'expired')),
    discount   bigint not null check (discount >= 0),
    currency   text not null,
    held_at    timestamptz not null,
    updated_at timestamptz not null,
    check (coupon_id is not null or status = 'returned'),
    check ((status = 'returned') = (reason is not null))
);

-- The limits count active redemptions, by coupon and by coupon and customer, under the
-- coupon's row lock; the list counts them per coupon.
create index redemptions_active on redemptions (coupon_id, user_id) where status <> 'returned';
-- The sweeper looks for holds that no order.placed confirmed in time.
create index redemptions_unconfirmed on redemptions (held_at) where status = 'held';
