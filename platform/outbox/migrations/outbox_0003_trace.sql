-- Issue 16: an event carries the trace context and the request id of the work that wrote
-- it, so the consumers' spans are children of the publishing span (one checkout, one trace)
-- and their log lines name the request. The relay publishes them as the traceparent and
-- Souk-Request-Id headers; null when the writer had none.
alter table outbox add column traceparent text, add column request_id text;
