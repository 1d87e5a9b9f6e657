-- The payment service's schema: its copy of orders (from ORDERS events), payments, refunds
-- and the provider events (webhooks) it has applied. No card data is stored anywhere: a
-- payment names its method by the provider's id (pm_…) only, and the client secret of an
-- intent is handed to its payer and never kept.

-- What the service knows of orders, learned from ORDERS events (or asked of the order
-- service when a payer is faster than the events). Status only moves forward:
-- placed → reserved → paid, and cancelled ends it (see order_rank).
create table orders (
    id             uuid primary key,
    user_id        text not null default '',
    total_amount   bigint check (total_amount >= 0),     -- null until placed or reserved is seen
    currency       text check (currency ~ '^[A-Z]{3}$'),
    status         text not null check (status in ('placed', 'reserved', 'paid', 'cancelled')),
    payment_method text not null default '',
    updated_at     timestamptz not null default now()
);

-- One attempt to collect an order's total. created: written, the provider not yet (known to
-- be) called; processing and requires_action: the provider has it; succeeded, failed and
-- canceled are decided and final.
create table payments (
    id              uuid primary key,                   -- also the provider's idempotency key
    order_id        uuid not null references orders (id),
    user_id         text not null,
    amount          bigint not null check (amount > 0),
    currency        text not null check (currency ~ '^[A-Z]{3}$'),
    method          text not null,                      -- pm_… id only
    provider        text not null,
    provider_ref    text,                               -- the provider's intent id
    status          text not null check (status in ('created', 'processing', 'requires_action', 'succeeded', 'failed', 'canceled')),
    decline_code    text not null default '',
    attempts        integer not null default 0,         -- provider calls made by the worker
    next_attempt_at timestamptz not null default now(), -- when the worker may look at it again
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
-- At most one payment per order is live (under way or captured): a second request, a
-- redelivered event, two instances racing all find the first.
create unique index payments_one_live on payments (order_id)
    where status in ('created', 'processing', 'requires_action', 'succeeded');
-- The worker's scan: undecided payments that are due.
create index payments_due on payments (next_attempt_at)
    where status in ('created', 'processing', 'requires_action');
create index payments_provider_ref on payments (provider_ref) where provider_ref is not null;

-- Refunds of a captured payment. pending reserves its amount until the provider answers;
-- failed releases it.
create table refunds (
    id              uuid primary key,                   -- also the provider's idempotency key
    payment_id      uuid not null references payments (id),
    order_id        uuid not null references orders (id),
    amount          bigint not null check (amount > 0),
    currency        text not null check (currency ~ '^[A-Z]{3}$'),
    status          text not null check (status in ('pending', 'succeeded', 'failed')),
    reason          text not null check (reason in ('requested', 'cancellation')),
    idempotency_key text,                               -- the admin's Idempotency-Key
    requested_by    text not null default '',           -- user id, or '' for the service itself
    provider_ref    text,
    failure_reason  text not null default '',
    attempts        integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
-- The same key for the same order is the same refund; a cancellation refunds once.
create unique index refunds_key on refunds (order_id, idempotency_key) where idempotency_key is not null;
create unique index refunds_one_cancellation on refunds (order_id) where reason = 'cancellation';
create index refunds_payment on refunds (payment_id);
create index refunds_due on refunds (next_attempt_at) where status = 'pending';
create index refunds_provider_ref on refunds (provider_ref) where provider_ref is not null;

-- Provider events applied (Stripe webhook event ids, the sandbox's notices), written in the
-- transaction of their effect: a replay finds its row and changes nothing.
create table webhook_events (
    id          text primary key,
    type        text not null,
    received_at timestamptz not null default now()
);
create index webhook_events_age on webhook_events (received_at);
