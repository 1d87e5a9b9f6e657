-- Issue 16: a shipment keeps the trace context of the order.paid event that made it, so that
-- staff moving it on (packed, shipped, delivered: requests of their own) continue the
-- checkout's trace (platform/trace.Resume) and its events carry that trace on.
alter table shipping.shipments add column trace_parent text;
