-- A redemption may be returned for a third reason: refused. A hold the sweeper returned
-- (expired) whose order.placed or order.paid comes late is counted again only if the
-- coupon's limits allow it then; otherwise it stays returned, reason refused, and
-- promotion.refused tells the order service to cancel the order.
alter table redemptions drop constraint redemptions_reason_check;
alter table redemptions add constraint redemptions_reason_check check (reason in ('cancelled', 'expired', 'refused'));
