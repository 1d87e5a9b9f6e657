-- Accounts of the user service. Emails are stored normalised (trimmed, lower-cased), so the
-- unique constraint is the duplicate check.
create table users (
    id                uuid primary key,
    email             text not null unique check (length(email) <= 254),
    password_hash     text not null,
    name              text not null,
    locale            text not null default 'en',
    roles             text[] not null default '{customer}',
    email_verified_at timestamptz,
    addresses         jsonb not null default '[]',
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);

-- Email verification tokens: only the SHA-256 (hex) of a token is kept; a token is single-use
-- and expires.
create table email_verifications (
    token_hash text primary key,
    user_id    uuid not null references users (id) on delete cascade,
    expires_at timestamptz not null,
    used_at    timestamptz
);
create index email_verifications_user_id on email_verifications (user_id);
