-- The queue of the Meilisearch indexer (services/catalog/search): the products whose document
-- must be written to the index. The indexer's consumer adds a row per product a catalog event
-- names, in the transaction that records the event as processed; its loop leases rows, writes
-- the products' current state and deletes the rows of the generation it wrote (a product
-- queued again meanwhile gets a new gen and stays). Empty without Meilisearch.
create table search_pending (
    product_id   uuid primary key,
    gen          bigserial not null,
    leased_until timestamptz not null default '-infinity'
);
create index search_pending_gen on search_pending (gen);
