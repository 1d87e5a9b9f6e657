-- The notification service's schema (search_path is notify).

-- uuidv7 makes time-ordered ids (PostgreSQL 18 has its own; 15 does not): a v4 uuid with
-- its first 48 bits replaced by the Unix time in milliseconds and the version set to 7.
create function uuidv7() returns uuid language sql volatile as $$
    select encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
        from 1 for 6), 52, 1), 53, 1), 'hex')::uuid
$$;

-- The service's copy of the customers' contact details, kept from the user service's
-- events (user.registered, user.updated); version is the occurred_at of the event that
-- wrote it, so an older event arriving late changes nothing.
create table recipients (
    user_id  uuid primary key,
    email    text not null,
    name     text not null,
    locale   text not null,
    version  timestamptz not null
);

-- Outgoing webhook endpoints. The secret signs every delivery (HMAC-SHA256), so it is kept
-- as it is, not hashed: it must be recoverable to sign. It never leaves the service again
-- after the reply that created the endpoint.
create table webhook_endpoints (
    id          uuid primary key default uuidv7(),
    url         text not null,
    events      text[] not null,
    secret      text not null,
    created_at  timestamptz not null default now()
);

-- Every delivery: one message of one event on one channel to one recipient (a user for
-- email, an endpoint for webhooks). The unique key makes a redelivered event a no-op.
create table deliveries (
    id               uuid primary key default uuidv7(),
    event_id         text not null,
    event_type       text not null,              -- order.paid, user.registered, …
    channel          text not null check (channel in ('email', 'webhook')),
    recipient        text not null,              -- user id (email) or endpoint id (webhook)
    user_id          uuid,                       -- email: whose notification list it is in
    endpoint_id      uuid references webhook_endpoints (id) on delete cascade,
    template         text not null default '',   -- email: the message (order_confirmation, …)
    lang             text not null default '',   -- email, once sent: the language it was written in
    subject          text not null default '',   -- email, once sent: its subject line
    payload          bytea not null,             -- email: the template data; webhook: the body
    secret           boolean not null default false, -- the payload holds a secret: wiped once done
    status           text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
    attempts         int not null default 0,
    next_attempt_at  timestamptz not null default now(),
    last_error       text not null default '',
    sent_at          timestamptz,
    created_at       timestamptz not null default now(),
    unique (event_id, channel, recipient)
);
-- The worker claims due pending deliveries oldest first.
create index deliveries_due on deliveries (next_attempt_at) where status = 'pending';
create index deliveries_user on deliveries (user_id, id) where user_id is not null;
create index deliveries_endpoint on deliveries (endpoint_id, id) where endpoint_id is not null;

-- Every attempt of every delivery, with its outcome.
create table attempts (
    delivery_id  uuid not null references deliveries (id) on delete cascade,
    n            int not null,
    at           timestamptz not null default now(),
    error        text not null default '',      -- empty: it went out
    primary key (delivery_id, n)
);
