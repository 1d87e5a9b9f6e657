-- Token signing keys of the auth service. Exactly one key is current (retired_at is null);
-- the unique index makes a second current key impossible, whatever instances race.
create table signing_keys (
    kid         text primary key,
    private_key bytea not null,          -- Ed25519 private key (64 bytes)
    created_at  timestamptz not null default now(),
    retired_at  timestamptz
);
create unique index signing_keys_one_current on signing_keys ((true)) where retired_at is null;
