-- Issue 16: a delivery keeps the trace context of the event's handling that queued it, so
-- that the worker sends it (an email, a webhook) as a span of that trace: a checkout's
-- confirmation and delivery emails are in the checkout's trace (platform/trace.Resume).
alter table notify.deliveries add column trace_parent text;
