-- The processed table of platform/consumer (search_path is the service's schema): one row
-- per event a durable consumer applied, written in the transaction of the effect, so a
-- redelivered or republished event finds its row and is acknowledged without being applied
-- again. The primary key is the guard; it never lives only in JetStream or KV.
create table processed (
    consumer      text not null,                  -- the durable consumer's name
    event_id      text not null,                  -- Nats-Msg-Id, or "<stream>:<sequence>"
    processed_at  timestamptz not null default now(),
    primary key (consumer, event_id)
);
-- The hourly prune deletes one consumer's oldest rows; this keeps that a range scan.
create index processed_age on processed (consumer, processed_at);
