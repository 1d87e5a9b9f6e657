// Package catalog is Souk's catalog service: categories, products with translations,
// reviews and ratings, and search.
//
// It owns the PostgreSQL schema "catalog" (categories, products, reviews, purchases, stock,
// attribute_names, locales, lexicon, search_pending, and the outbox and processed tables) and
// serves the subjects.Category*, Product* and Review* endpoints as the micro service
// "catalog". Every change is published through the outbox on the CATALOG stream
// (souk.evt.catalog.*).
//
// It consumes: souk.evt.order.paid.*, delivered.* and cancelled.* (who bought what: the right
// to review), souk.evt.inventory.stock_changed.* (its copy of in_stock), and, on every
// instance, its own souk.evt.catalog.> events to invalidate its caches. With Meilisearch
// configured, the search wing's indexer feeds the index from the CATALOG stream.
//
// Its domain (products, categories, reviews, language preferences) is in
// services/catalog/product; search (the query, the PostgreSQL and Meilisearch engines, the
// indexer) in services/catalog/search. Product and list replies are cached as encoded bytes.
package catalog
