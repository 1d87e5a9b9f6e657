-- Issue 12 item 6: a payment is never charged for a cancelled order, a late success of a
-- payment recorded failed is refunded, a failed intent is cancelled at the provider, an
-- unanswered create is looked up before it is sent again.

-- A refund of a payment the provider captured after it was recorded failed (the payer
-- confirmed a declined intent again, or a create whose answer was lost succeeded after
-- all): the money goes back, through the worker, once per such payment.
alter table refunds drop constraint refunds_reason_check;
alter table refunds add constraint refunds_reason_check
    check (reason in ('requested', 'cancellation', 'late_success'));
create unique index refunds_one_late_success on refunds (payment_id) where reason = 'late_success';

-- cancel_due: the payment was recorded failed while its intent may still be confirmed at
-- the provider; the worker cancels the intent there (next_attempt_at paces it).
alter table payments add column cancel_due boolean not null default false;
create index payments_cancel_due on payments (next_attempt_at) where cancel_due;

-- unsure_at: the provider's answer to the last create was lost (a 5xx or a network error).
-- Stripe replays a stored 500 for the same idempotency key for 24 h, so the worker first
-- looks the intent up (by the payment id in its metadata) and sends a create again only
-- with a new key (attempt), and only when the lookup finds none.
alter table payments add column unsure_at timestamptz;
alter table payments add column create_attempt integer not null default 0;
