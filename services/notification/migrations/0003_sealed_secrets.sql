-- Webhook secrets are sealed at rest (platform/seal: AES-256-GCM under the process's
-- SOUK_SECRET_KEY, bound to this table, column and the endpoint's id) in secret_sealed.
-- secret holds one in clear only until the service's next start seals it: endpoints from
-- before this migration, or created by an instance of an older release during an upgrade.
-- Exactly one of the two is set.
alter table webhook_endpoints alter column secret drop not null;
alter table webhook_endpoints add column secret_sealed bytea;
alter table webhook_endpoints add constraint webhook_endpoints_sealed_or_clear
    check ((secret is null) <> (secret_sealed is null));
