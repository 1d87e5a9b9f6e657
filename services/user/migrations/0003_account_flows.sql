-- The newcomer's account flows (issue 14 item 8; docs/decisions.md "Account flows").
--
-- A verification token now names the address it verifies and what it is for: 'verify' marks
-- the account's address verified and is void once the account's email is another; 'change'
-- makes its address the account's. created_at counts the links sent, for the rate limits.
alter table email_verifications add column email text;
alter table email_verifications add column purpose text not null default 'verify' check (purpose in ('verify', 'change'));
alter table email_verifications add column created_at timestamptz not null default now();
update email_verifications v set email = u.email from users u where u.id = v.user_id;
alter table email_verifications alter column email set not null;
create index email_verifications_user_created on email_verifications (user_id, purpose, created_at);

-- Password reset tokens: only the SHA-256 (hex) of a token is kept; single-use, expiring.
create table password_resets (
    token_hash text primary key,
    user_id    uuid not null references users (id) on delete cascade,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at    timestamptz
);
create index password_resets_user_created on password_resets (user_id, created_at);
