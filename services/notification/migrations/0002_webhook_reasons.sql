-- A failed webhook attempt is shown to admins as a reason from a fixed vocabulary (see
-- failure in webhook.go). Before, the error text itself was kept, and it could hold what the
-- receiver answered (Go quotes a malformed HTTP response's first bytes: a NATS port's INFO
-- banner with its server id and versions) or an internal address (a dial error). Those texts
-- are rewritten to their reason; email errors are the SMTP server's, configured by the
-- operator, and stay.

create function webhook_reason(e text) returns text language sql immutable as $$
    select case
        when e = '' then ''
        when e ~ '^webhook: the receiver answered [0-9]{3}$' then 'http ' || right(e, 3)
        when e = 'the endpoint was deleted' then 'endpoint deleted'
        when e = 'the endpoint URL is unusable' then 'unusable url'
        -- first: the only text that quotes the receiver, which could name any other reason
        when e like '%malformed HTTP%' then 'not an http answer'
        when e like '%Timeout exceeded%' or e like '%deadline exceeded%' or e like '%i/o timeout%' then 'timeout'
        when e like '%no such host%' then 'no such host'
        when e like '%connection refused%' then 'connection refused'
        when e like '%unreachable%' then 'unreachable'
        when e like '%tls:%' or e like '%x509:%' then 'tls error'
        when e like '%connection reset%' or e like '%EOF%' then 'connection closed'
        else 'connection failed'
    end
$$;

update deliveries set last_error = webhook_reason(last_error) where channel = 'webhook' and last_error <> '';

update attempts a set error = webhook_reason(a.error)
    from deliveries d where d.id = a.delivery_id and d.channel = 'webhook' and a.error <> '';

drop function webhook_reason(text);
