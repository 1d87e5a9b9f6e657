-- Signing keys are sealed at rest (platform/seal: AES-256-GCM under the process's
-- SOUK_SECRET_KEY, bound to this table, column and the row's kid) in private_key_sealed.
-- private_key holds a key in clear only until the service's next start seals it: rows from
-- before this migration, or written by an instance of an older release during an upgrade.
-- Exactly one of the two is set.
alter table signing_keys alter column private_key drop not null;
alter table signing_keys add column private_key_sealed bytea;
alter table signing_keys add constraint signing_keys_sealed_or_clear
    check ((private_key is null) <> (private_key_sealed is null));
