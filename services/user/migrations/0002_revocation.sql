-- Revocation (docs/decisions.md, "Revocation reaches every verifier within a second"), both
-- in Unix seconds, read with the principal at every login and refresh:
-- tokens_not_before: the access tokens issued before it are refused (any revocation);
-- sessions_not_before: the refresh sessions started before it end (an account removed, a
-- password changed).
-- removed_at marks an account removed by an admin: anonymised, no login, its id kept for the
-- history of its orders.
alter table users add column tokens_not_before bigint not null default 0;
alter table users add column sessions_not_before bigint not null default 0;
alter table users add column removed_at timestamptz;
