-- Issue 16: an order keeps the trace context of the request that placed it, so that later
-- requests about it (a customer's or staff's cancel) continue its checkout's trace
-- (platform/trace.Resume) and their events carry that trace on.
alter table orders.orders add column trace_parent text;
