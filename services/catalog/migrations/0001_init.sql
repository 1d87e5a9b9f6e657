-- The catalog's schema: categories, products, reviews, the purchases and stock levels it
-- learns from other services' events, and what search needs (a word list for typos).
create extension if not exists pg_trgm with schema public;
create extension if not exists unaccent with schema public;

-- Categories form a tree; a slug is unique among its siblings.
create table categories (
    id           uuid primary key,
    parent_id    uuid references categories (id),
    name         text not null,
    slug         text not null,
    translations jsonb not null default '{}', -- {"de": {"name": "Kopfhörer"}}
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    check (parent_id is distinct from id)
);
create unique index categories_sibling_slug on categories (coalesce(parent_id, '00000000-0000-0000-0000-000000000000'), slug);

-- Products. The search document is computed at write time (product_document below), in the
-- statement that writes the row. Deleted products keep their row (orders and reviews point
-- at them) and leave every index that serves shoppers.
create table products (
    id           uuid primary key,
    seq          bigint generated always as identity unique, -- a number per product, for engines that page by numbers
    sku          text not null,
    name         text not null,
    description  text not null default '',
    price_amount bigint not null check (price_amount >= 0),
    currency     text not null check (currency ~ '^[A-Z]{3}$'),
    category_id  uuid not null references categories (id),
    attributes   jsonb not null default '{}',
    images       text[] not null default '{}',
    translations jsonb not null default '{}', -- {"de": {"name": …, "description": …}}
    rating_sum   bigint not null default 0,   -- exact: the sum and count of visible ratings
    rating_count integer not null default 0,
    rating_avg   numeric(3, 2) generated always as
                 (case when rating_count > 0 then round(rating_sum::numeric / rating_count, 2) else 0 end) stored,
    in_stock     boolean not null default false,
    version      bigint not null default 1,
    search       tsvector not null,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    deleted_at   timestamptz
);
create unique index products_sku on products (lower(sku)) where deleted_at is null;
create index products_sku_any on products (sku);
create index products_search on products using gin (search) where deleted_at is null;
create index products_attributes on products using gin (attributes jsonb_path_ops) where deleted_at is null;
create index products_category on products (category_id) where deleted_at is null;
-- One index per keyset order of a search (sort, then id as the tie-break).
create index products_newest on products (created_at desc, id desc) where deleted_at is null;
create index products_price on products (price_amount, id) where deleted_at is null;
create index products_rating on products (rating_avg desc, id desc) where deleted_at is null;

-- The read model: each listed product's reply to shoppers in each of its languages (the
-- default and every translation), as JSON text, rebuilt by refresh_views in the transaction
-- of every change that shows in it. A product read that misses the cache is one primary-key
-- read of ready bytes; a deleted product has none.
create table product_views (
    product_id uuid not null references products (id),
    locale     text not null,
    body       text not null,
    primary key (product_id, locale)
);

-- Reviews: one per customer and product. Hidden reviews stay but count nowhere.
create table reviews (
    id          uuid primary key,
    product_id  uuid not null references products (id),
    user_id     uuid not null,
    rating      smallint not null check (rating between 1 and 5),
    title       text not null,
    body        text not null,
    author_name text not null,
    hidden      boolean not null default false,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    unique (product_id, user_id)
);
create index reviews_visible on reviews (product_id, created_at desc, id desc) where not hidden;

-- Who paid for what, learnt from the order service's events: the right to review.
create table purchases (
    user_id    uuid not null,
    product_id uuid not null,
    order_id   uuid not null,
    paid_at    timestamptz not null,
    primary key (user_id, product_id, order_id)
);
create index purchases_order on purchases (order_id);
-- Orders known to be cancelled: a paid event that arrives after the cancellation records
-- no purchase.
create table cancelled_orders (order_id uuid primary key);

-- The catalog's copy of availability, learnt from the inventory service's events; version
-- orders them, so an older level arriving late changes nothing.
create table stock (
    sku        text primary key,
    available  bigint not null,
    version    bigint not null,
    updated_at timestamptz not null default now()
);

-- Names of attributes in use: a filter on any other name is refused.
create table attribute_names (name text primary key);
-- Locales that have translations; search stems the query in each of their languages.
create table locales (locale text primary key);
-- Every word of the listed texts, folded (lower case, no accents): the dictionary that typo
-- correction looks up with trigrams. Words are never removed; a stale one corrects to
-- nothing.
create table lexicon (word text collate "C" primary key);
create index lexicon_trgm on lexicon using gin (word gin_trgm_ops);

-- Search. ---------------------------------------------------------------------------------

-- The text search configuration of a locale's language; simple (no stemming) for others.
-- Each branch is a constant, so no call looks a configuration up by name.
create function ts_config(locale text) returns regconfig language sql immutable parallel safe as $$
    select case split_part(lower(locale), '-', 1)
        when 'en' then 'pg_catalog.english'::regconfig when 'de' then 'pg_catalog.german'::regconfig
        when 'fr' then 'pg_catalog.french'::regconfig when 'es' then 'pg_catalog.spanish'::regconfig
        when 'it' then 'pg_catalog.italian'::regconfig when 'nl' then 'pg_catalog.dutch'::regconfig
        when 'pt' then 'pg_catalog.portuguese'::regconfig when 'sv' then 'pg_catalog.swedish'::regconfig
        when 'da' then 'pg_catalog.danish'::regconfig when 'fi' then 'pg_catalog.finnish'::regconfig
        when 'nb' then 'pg_catalog.norwegian'::regconfig when 'no' then 'pg_catalog.norwegian'::regconfig
        when 'ru' then 'pg_catalog.russian'::regconfig when 'hu' then 'pg_catalog.hungarian'::regconfig
        when 'ro' then 'pg_catalog.romanian'::regconfig when 'tr' then 'pg_catalog.turkish'::regconfig
        else 'pg_catalog.simple'::regconfig end
$$;

-- Lower case without accents: "Kopfhörer" → "kopfhorer". Qualified, so it works whatever the
-- caller's search_path.
create function fold(t text) returns text language sql stable as $$
    select lower(public.unaccent('public.unaccent'::regdictionary, coalesce(t, '')))
$$;

create aggregate tsvector_agg(tsvector) (sfunc = tsvector_concat, stype = tsvector, initcond = '');

-- The names of a category and its ancestors, in every language: products are found by the
-- words of their categories too.
create function category_text(cat uuid) returns text language sql stable as $$
    with recursive up as (
        select id, parent_id, name, translations from catalog.categories where id = cat
        union all
        select c.id, c.parent_id, c.name, c.translations from catalog.categories c join up on c.id = up.parent_id
    )
    select coalesce(string_agg(up.name || ' ' || coalesce((select string_agg(t.value ->> 'name', ' ') from jsonb_each(up.translations) t), ''), ' '), '')
    from up
$$;

-- The search document of a product: names (weight A), category words (B), attribute values
-- (C), descriptions (D); each stemmed in its language and also folded unstemmed, so a query
-- matches whatever language it is typed in.
create function product_document(default_locale text, name text, description text, translations jsonb,
                                 attributes jsonb, sku text, category_words text) returns tsvector
language sql stable as $$
    select setweight(to_tsvector(catalog.ts_config(default_locale), name), 'A')
        || setweight(to_tsvector('simple', catalog.fold(name)), 'A')
        || setweight(to_tsvector('simple', catalog.fold(sku)), 'A')
        || setweight(to_tsvector(catalog.ts_config(default_locale), category_words), 'B')
        || setweight(to_tsvector('simple', catalog.fold(category_words)), 'B')
        || setweight(to_tsvector('simple', catalog.fold((select string_agg(value, ' ') from jsonb_each_text(attributes)))), 'C')
        || setweight(to_tsvector(catalog.ts_config(default_locale), description), 'D')
        || setweight(to_tsvector('simple', catalog.fold(description)), 'D')
        || coalesce((select catalog.tsvector_agg(
                setweight(to_tsvector(catalog.ts_config(t.key), coalesce(t.value ->> 'name', '')), 'A')
             || setweight(to_tsvector('simple', catalog.fold(t.value ->> 'name')), 'A')
             || setweight(to_tsvector(catalog.ts_config(t.key), coalesce(t.value ->> 'description', '')), 'D')
             || setweight(to_tsvector('simple', catalog.fold(t.value ->> 'description')), 'D'))
           from jsonb_each(translations) t), ''::tsvector)
$$;

-- Adds the words of a search document to the lexicon: its lexemes (folded words, and the
-- stems of each language, which typo correction may suggest as well), sorted so that
-- concurrent writers lock them in one order.
create function add_words(doc tsvector) returns void language sql as $$
    insert into catalog.lexicon (word)
    select w from unnest(tsvector_to_array(doc)) w
    where length(w) between 3 and 40 and w !~ '[0-9]'
    order by w
    on conflict do nothing
$$;

-- The query of one search term: the term folded and, in every language in use, stemmed
-- (distinct lexemes, OR'ed); the last term of an as-you-type query also as a prefix. term
-- holds only letters and digits, so its lexemes need no quoting beyond quote_literal.
create function term_query(term text, prefix boolean) returns tsquery language sql stable as $$
    select string_agg(quote_literal(l) || case when prefix then ':*' else '' end, ' | ')::tsquery
    from (select distinct l from (
              select catalog.fold(term) as l
              union all
              select unnest(tsvector_to_array(to_tsvector(catalog.ts_config(locale), term))) from catalog.locales
          ) s where l <> '') d
$$;

-- The query of a search: every term must match (AND); a term that is no known word also
-- matches its closest known words by trigram similarity ("heaphones" → headphones): up to
-- three, none far behind the best.
-- A stop word of any language in use is dropped unless it is the only term; null when
-- every term is a stop word (nothing matches). terms hold only
-- letters and digits (the service splits the query), at most a few of them.
create function search_query(terms text[], prefix_last boolean) returns tsquery
language plpgsql stable
set pg_trgm.similarity_threshold = 0.35
as $$
declare
    result tsquery; -- null until the first term: ''::tsquery would raise a notice
    tq tsquery;
    term text;
    folded text;
    last boolean;
    known boolean;
    alt text;
    sim real;
    best real;
    n int := coalesce(array_length(terms, 1), 0);
begin
    for i in 1 .. n loop
        term := terms[i];
        folded := catalog.fold(term);
        last := i = n and prefix_last;
        if n > 1 and exists (select 1 from catalog.locales l
                             where catalog.ts_config(l.locale) <> 'simple'::regconfig
                               and length(to_tsvector(catalog.ts_config(l.locale), term)) = 0) then
            continue; -- a stop word
        end if;
        tq := catalog.term_query(term, last);
        if length(folded) >= 4 and folded !~ '[0-9]' then
            if last then -- a range, so that the primary key serves it
                known := exists (select 1 from catalog.lexicon where word >= folded and word < folded || chr(1114111));
            else
                known := exists (select 1 from catalog.lexicon where word = folded);
            end if;
            if not known then
                best := null;
                for alt, sim in select word, similarity(word, folded) from catalog.lexicon where word % folded
                                order by 2 desc, word limit 3 loop
                    best := coalesce(best, sim);
                    exit when sim < best - 0.15; -- far behind the best guess: another word
                    tq := tq || catalog.term_query(alt, false);
                end loop;
            end if;
        end if;
        result := case when result is null then tq else result && tq end;
    end loop;
    return result;
end
$$;

-- Rebuilds the views of products ids (see product_views); call it in the transaction of the
-- change, after the products' rows are written (and locked).
create function refresh_views(ids uuid[], default_locale text) returns void language sql as $$
    delete from catalog.product_views where product_id = any(ids);
    insert into catalog.product_views (product_id, locale, body)
    select p.id, l.locale, json_build_object(
            'id', p.id, 'sku', p.sku,
            'name', coalesce(l.t ->> 'name', p.name),
            'description', coalesce(nullif(l.t ->> 'description', ''), p.description),
            'locale', l.locale,
            'price', json_build_object('amount', p.price_amount, 'currency', p.currency),
            'category_id', p.category_id, 'attributes', p.attributes, 'images', to_json(p.images),
            'rating', json_build_object('average', case when p.rating_count > 0 then round(p.rating_sum::numeric / p.rating_count, 2) else 0 end,
                                        'count', p.rating_count),
            'in_stock', p.in_stock, 'version', p.version,
            'created_at', to_char(p.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'updated_at', to_char(p.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
    from catalog.products p
    cross join lateral (select default_locale, null::jsonb union all select t.key, t.value from jsonb_each(p.translations) t) l(locale, t)
    where p.id = any(ids) and p.deleted_at is null;
$$;
