-- Issue 17 item 1: the relay keeps a watermark instead of marking each row sent (an update of
-- a wide row and its index entries per event). docs/decisions.md, "An outbox relayed by
-- watermark", has the argument.
--
-- Every row carries an order key safe to keep a watermark on: the id of the transaction that
-- wrote it (top level) and a sequence number. The relay passes rows in (xid, seq) order, and
-- only below the snapshot's xmin, where every transaction has ended and no row can appear
-- any more. Existing rows get the migration's xid and a sequence number in the order they
-- were written.
create sequence outbox_seq;
alter table outbox
    add column xid xid8 not null default pg_current_xact_id(),
    add column seq bigint not null default nextval('outbox_seq'),
    -- Set on the rare paths that publish rows again (a dead lease, a server that lost data).
    add column resend boolean not null default false;
update outbox o set seq = n.seq from (
    select id, nextval('outbox_seq') as seq from (select id from outbox order by created_at, id) s
) n where o.id = n.id;
-- Only the rows still to publish: the rows sent one by one leave it, so that the look above
-- the horizon, while a long transaction holds it back, does not walk them again and again.
create index outbox_key on outbox (xid, seq) where sent_at is null and not resend;
create index outbox_resend on outbox (xid, seq) where resend;
-- The claim and the backlog count went by created_at over the unsent rows; both read the key now.
drop index outbox_unsent;

-- The watermark: every row at or below (xid, seq) was published, unless marked resend. One
-- row, written by the relay holding the schema's advisory lock. It also holds the current run:
-- the range (run_lo, watermark] that the instance run_by passed between run_from and run_to.
-- A run ends when another instance takes over or after a second, into outbox_run.
-- Rows sent one by one (sent_at, sent_by: past the horizon for too long, or resent) are
-- passed over (the watermark reads only the rows still to publish). At the start the watermark is below every row, so
-- the existing unsent rows go out and the sent ones are skipped.
create table outbox_cursor (
    id          boolean primary key default true check (id),
    xid         xid8 not null default '0',
    seq         bigint not null default 0,
    run_by      text,
    run_lo_xid  xid8 not null default '0',
    run_lo_seq  bigint not null default 0,
    run_from    timestamptz,
    run_to      timestamptz
);
insert into outbox_cursor default values;

-- Who passed which range of the outbox when, a row a second at most: what the resend after a
-- dead lease or a server that lost data, and pruning, need.
create table outbox_run (
    sent_by   text not null,
    lo_xid    xid8 not null,   -- exclusive
    lo_seq    bigint not null,
    hi_xid    xid8 not null,   -- inclusive
    hi_seq    bigint not null,
    first_at  timestamptz not null,
    last_at   timestamptz not null
);
create index outbox_run_last on outbox_run (last_at);

-- The events not published yet, for tests, scripts and operators.
create view outbox_pending as
select o.* from outbox o
where o.resend or (o.sent_at is null and (o.xid, o.seq) > (select c.xid, c.seq from outbox_cursor c));
