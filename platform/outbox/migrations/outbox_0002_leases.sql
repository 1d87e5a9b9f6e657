-- A lease per relay instance (issue 12 item 5). The one clean_stop row of outbox_state was
-- shared by every instance of a service, so one instance stopping cleanly erased another's
-- crash, and its resend window was anchored at the restart rather than at the crash.
--
-- Each relay instance holds a lease, renews its heartbeat while it lives, and marks it clean
-- when it stops cleanly. A lease not renewed within the relay's lease time belongs to a dead
-- instance: whichever relay sees it first deletes it and publishes again the rows that
-- instance sent within the resend window before it was last known good.
create table outbox_lease (
    instance     text primary key,
    started_at   timestamptz not null default now(),
    heartbeat    timestamptz not null default now(), -- last sign of life
    verified_at  timestamptz not null default now(), -- last time NATS held what it had acked
    clean        boolean not null default false
);

-- Who sent a row: the lease whose window it belongs to.
alter table outbox add column sent_by text;

-- Carry over the old state: the rows sent so far belong to one lease, dead and to be resent
-- if the last stop was not clean, anchored at the last send.
update outbox set sent_by = 'before-leases' where sent_at is not null;
insert into outbox_lease (instance, heartbeat, verified_at, clean)
select 'before-leases', coalesce(max(o.sent_at), now()), coalesce(max(o.sent_at), now()), s.clean_stop
from outbox_state s left join outbox o on o.sent_at is not null
group by s.clean_stop;
drop table outbox_state;
