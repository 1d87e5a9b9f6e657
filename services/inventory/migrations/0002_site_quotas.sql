-- Edge sites' stock quotas. A grant moves units from the hub's on_hand to a site's quota (in
-- the transaction that takes them from stock); the site sells from its quota while cut off,
-- and each of its sales is recorded here once when the hub sources it.
create table site_quotas (
    site     text   not null,
    sku      text   not null,
    granted  bigint not null default 0 check (granted >= 0),
    sold     bigint not null default 0 check (sold >= 0),
    returned bigint not null default 0 check (returned >= 0),
    -- seq numbers the grants of one site and SKU (1, 2, …): the site applies each once.
    seq      bigint not null default 0,
    primary key (site, sku)
);

create table quota_grants (
    site       text        not null,
    sku        text        not null,
    seq        bigint      not null,
    quantity   bigint      not null check (quantity > 0),
    granted_at timestamptz not null default now(),
    primary key (site, sku, seq)
);

-- A site's sale, recorded once: the sale id is the key, in the transaction that counts it.
create table site_sales (
    sale_id     text        primary key,
    site        text        not null,
    lines       jsonb       not null,
    sold_at     timestamptz not null,
    recorded_at timestamptz not null default now()
);
create index site_sales_site on site_sales (site);
