-- The order service's schema: orders with their lines and status history. The order row is
-- the saga's state: every transition takes its row lock, so concurrent events about one
-- order (a cancel racing a payment) are applied one after the other.
create table orders.orders (
    id               uuid primary key,
    user_id          uuid not null,
    status           text not null,
    cancel_reason    text,
    items            jsonb not null,
    subtotal         bigint not null check (subtotal >= 0),
    discount         bigint not null check (discount >= 0),
    total            bigint not null check (total >= 0),
    currency         text not null,
    coupon           text,
    shipping_address jsonb not null,
    payment_method   text,
    reserved_until   timestamptz,
    payment          jsonb,
    shipment         jsonb,
    -- idempotency_key is the client's Idempotency-Key: the same key from the same user is
    -- the same order, whatever the KV cache says.
    idempotency_key  text,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    check (total = subtotal - discount)
);

create unique index orders_idempotency on orders.orders (user_id, idempotency_key) where idempotency_key is not null;
create index orders_by_user on orders.orders (user_id, created_at desc, id desc);

create table orders.history (
    order_id uuid not null references orders.orders (id),
    seq      int not null,
    status   text not null,
    reason   text,
    at       timestamptz not null default now(),
    primary key (order_id, seq)
);
