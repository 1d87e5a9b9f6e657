package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/pg"
	"github.com/souk/souk/services/catalog/product"
	"github.com/souk/souk/subjects"
)

// categoryIndex holds the current tree of this instance.
type categoryIndex struct {
	store *Store
	cur   atomic.Pointer[product.Tree]
	mu    sync.Mutex // serialises reloads
}

// reload reads the tree from the store.
func (ci *categoryIndex) reload(ctx context.Context) error {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	cats, err := ci.store.Categories(ctx)
	if err != nil {
		return err
	}
	ci.cur.Store(product.BuildTree(cats))
	return nil
}

// current is the tree as last loaded.
func (ci *categoryIndex) current() *product.Tree { return ci.cur.Load() }

// resolve finds a category by id or path in the tree. One the tree lacks is looked up in
// the store: this instance may not have heard yet of a category created elsewhere, and then
// the tree is reloaded. An unknown one costs one indexed query, never a reload.
func (ci *categoryIndex) resolve(ctx context.Context, ref string) (*product.Node, *product.Tree, error) {
	t := ci.current()
	if n, ok := t.Resolve(ref); ok {
		return n, t, nil
	}
	id, err := ci.store.ResolveCategory(ctx, ref)
	if err != nil {
		return nil, t, err
	}
	if err := ci.reload(ctx); err != nil {
		return nil, t, err
	}
	t = ci.current()
	if n, ok := t.ByID[id]; ok {
		return n, t, nil
	}
	return nil, t, product.ErrCategoryNotFound
}

// Categories returns every category.
func (s *Store) Categories(ctx context.Context) ([]product.Category, error) {
	rows, err := s.db.Query(ctx, `select id, parent_id, name, slug, translations from catalog.categories`)
	if err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	cats, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (product.Category, error) {
		var c product.Category
		err := r.Scan(&c.ID, &c.ParentID, &c.Name, &c.Slug, &c.Translations)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	return cats, nil
}

// ResolveCategory returns the id of the category named by id or by path, or
// product.ErrCategoryNotFound.
func (s *Store) ResolveCategory(ctx context.Context, ref string) (uuid.UUID, error) {
	ref = strings.ToLower(strings.Trim(strings.TrimSpace(ref), "/"))
	if ref == "" || len(ref) > 1024 || !utf8.ValidString(ref) || strings.IndexFunc(ref, unicode.IsControl) >= 0 {
		return uuid.Nil, product.ErrCategoryNotFound // no category has such a name, and PostgreSQL refuses a NUL
	}
	var id uuid.UUID
	var err error
	if parsed, perr := uuid.Parse(ref); perr == nil {
		err = s.db.QueryRow(ctx, `select id from catalog.categories where id = $1`, parsed).Scan(&id)
	} else {
		// Walk down the path one slug at a time: each step is an index lookup.
		err = s.db.QueryRow(ctx, `with recursive walk as (
				select c.id, 1 as depth from catalog.categories c where c.parent_id is null and c.slug = ($1::text[])[1]
				union all
				select c.id, w.depth + 1 from catalog.categories c join walk w on c.parent_id = w.id
				where c.slug = ($1::text[])[w.depth + 1])
			select id from walk where depth = cardinality($1::text[])`, strings.Split(ref, "/")).Scan(&id)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, product.ErrCategoryNotFound
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("resolve category: %w", err)
	}
	return id, nil
}

const categoryPath = `with recursive up as (
		select id, parent_id, slug::text as path from catalog.categories where id = $1
		union all
		select c.id, c.parent_id, c.slug || '/' || up.path from catalog.categories c join up on c.id = up.parent_id)
	select path from up where parent_id is null`

func categoryEvent(ctx context.Context, tx pgx.Tx, kind subjects.Event[subjects.CategoryChanged], id uuid.UUID) error {
	var path string
	if err := tx.QueryRow(ctx, categoryPath, id).Scan(&path); err != nil {
		return err
	}
	evID := outbox.NewID()
	return outbox.Add(ctx, tx, Schema, outbox.Event{ID: evID, Subject: kind.Subject(id.String()),
		Payload: subjects.CategoryChanged{EventID: evID.String(), OccurredAt: time.Now().UTC(), CategoryID: id.String(), Path: path}})
}

func categoryWriteError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, product.ErrCategoryNotFound), errors.Is(err, product.ErrCycle):
		return err
	case pg.Code(err) == pg.UniqueViolation:
		return product.ErrSlugTaken
	case pg.Code(err) == pg.ForeignKeyViolation:
		return product.ErrCategoryNotFound
	}
	return fmt.Errorf("%s: %w", op, err)
}

// CreateCategory inserts c with its category_created event. A slug a sibling has is
// product.ErrSlugTaken; an unknown parent product.ErrCategoryNotFound.
func (s *Store) CreateCategory(ctx context.Context, c *product.Category) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `insert into catalog.categories (id, parent_id, name, slug, translations) values ($1, $2, $3, $4, $5)`,
			c.ID, c.ParentID, c.Name, c.Slug, c.Translations); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `select catalog.add_words(to_tsvector('simple', catalog.fold(catalog.category_text($1))))`, c.ID); err != nil {
			return err
		}
		return categoryEvent(ctx, tx, subjects.EvtCategoryCreated, c.ID)
	})
	return categoryWriteError("create category", err)
}

// UpdateCategory runs fn on category id under its row lock and writes back what fn changed.
// A move under the category's own subtree is product.ErrCycle. When the names or the place in the
// tree change, the search documents of the products below are rebuilt in the same
// transaction (their category words changed).
func (s *Store) UpdateCategory(ctx context.Context, id uuid.UUID, fn func(*product.Category) (bool, error)) (product.Category, error) {
	var out product.Category
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var c product.Category
		err := tx.QueryRow(ctx, `select id, parent_id, name, slug, translations from catalog.categories where id = $1 for update`, id).
			Scan(&c.ID, &c.ParentID, &c.Name, &c.Slug, &c.Translations)
		if errors.Is(err, pgx.ErrNoRows) {
			return product.ErrCategoryNotFound
		}
		if err != nil {
			return err
		}
		changed, err := fn(&c)
		out = c
		if err != nil || !changed {
			return err
		}
		if c.ParentID != nil {
			var cycle bool
			err := tx.QueryRow(ctx, `with recursive up as (
					select id, parent_id from catalog.categories where id = $1
					union all
					select p.id, p.parent_id from catalog.categories p join up on p.id = up.parent_id)
				select exists(select 1 from up where id = $2)`, *c.ParentID, c.ID).Scan(&cycle)
			if err != nil {
				return err
			}
			if cycle {
				return product.ErrCycle
			}
		}
		if _, err := tx.Exec(ctx, `update catalog.categories set parent_id = $2, name = $3, slug = $4, translations = $5, updated_at = now()
			where id = $1`, c.ID, c.ParentID, c.Name, c.Slug, c.Translations); err != nil {
			return err
		}
		if err := s.reindexSubtree(ctx, tx, c.ID); err != nil {
			return err
		}
		return categoryEvent(ctx, tx, subjects.EvtCategoryUpdated, c.ID)
	})
	return out, categoryWriteError("update category", err)
}

// reindexSubtree rebuilds the search documents of the listed products in category id and
// below (each category's words computed once), and adds the category's words to the
// lexicon.
func (s *Store) reindexSubtree(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	_, err := tx.Exec(ctx, `with recursive down as (
			select id from catalog.categories where id = $1
			union all
			select c.id from catalog.categories c join down on c.parent_id = down.id),
		words as (select id, catalog.category_text(id) as w from down)
		update catalog.products p set search = catalog.product_document($2, p.name, p.description, p.translations, p.attributes, p.sku, words.w)
		from words where p.category_id = words.id and p.deleted_at is null`, id, s.defaultLocale)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `select catalog.add_words(to_tsvector('simple', catalog.fold(catalog.category_text($1))))`, id)
	return err
}
