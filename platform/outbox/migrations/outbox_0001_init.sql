-- The transactional outbox of one service schema (search_path is that schema).
create table outbox (
    id          uuid primary key,            -- the event id, also the Nats-Msg-Id
    subject     text not null,
    payload     bytea not null,
    created_at  timestamptz not null default now(),
    sent_at     timestamptz
);
-- The relay claims unsent rows oldest first; the partial index keeps that scan small.
create index outbox_unsent on outbox (created_at) where sent_at is null;
create index outbox_sent on outbox (sent_at) where sent_at is not null;

-- One row: whether the last relay stopped cleanly. After an unclean stop the relay sends
-- again what it sent within the JetStream sync interval (see DESIGN.md, pitfalls).
create table outbox_state (
    id          boolean primary key default true check (id),
    clean_stop  boolean not null default true
);
insert into outbox_state default values;
