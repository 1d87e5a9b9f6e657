-- A cart becomes at most one order. cart_claim names the version of the cart an order was
-- priced from (its KV revision and the time of its last write, see subjects.Cart); the
-- unique index makes every other placement of that version fail, whatever its
-- Idempotency-Key, so ten concurrent checkouts of one cart store one order. The time keeps
-- a revision that comes round again (a bucket recreated, a NATS server that lost its tail)
-- from matching an old order. Orders placed before this migration have no claim.
alter table orders.orders add column cart_claim text;

create unique index orders_cart_claim on orders.orders (user_id, cart_claim) where cart_claim is not null;
