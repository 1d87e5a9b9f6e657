-- Revocation (docs/decisions.md, "Revocation reaches every verifier within a second"):
-- sessions_not_before ends the refresh sessions started before it (an account removed, a
-- password changed); the auth service reads it with the principal at every refresh.
-- removed_at marks an account removed by an admin: anonymised, no login, its id kept for the
-- history of its orders.
alter table users add column sessions_not_before timestamptz;
alter table users add column removed_at timestamptz;
