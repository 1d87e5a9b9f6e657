-- Issue 16: a payment keeps the trace context of the checkout that started it, so that its
-- outcome, however it comes (the worker's provider call, a webhook, a sandbox notice, a
-- reconciliation), is recorded as a span of that checkout's trace (platform/trace.Resume)
-- and its payment.succeeded or payment.failed event carries that trace on.
alter table payments.payments add column trace_parent text;
-- The copy of an order keeps the trace of its checkout (from the first event of it applied
-- here), which the payer's own request (POST /v1/orders/{id}/payment) resumes.
alter table payments.orders add column trace_parent text;
