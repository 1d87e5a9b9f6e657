package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	"github.com/souk/souk/subjects"
)

// node is one category of the in-memory tree.
type node struct {
	Category
	// path is the slugs from the root, joined by "/".
	path     string
	parent   *node
	children []*node
}

// tree is an immutable snapshot of the category tree: every instance holds one, loaded from
// the store and reloaded when a category event arrives. Search resolves categories and
// subtrees with it and rolls facet counts up through it.
type tree struct {
	byID   map[uuid.UUID]*node
	byPath map[string]*node
	roots  []*node
}

func buildTree(cats []Category) *tree {
	t := &tree{byID: make(map[uuid.UUID]*node, len(cats)), byPath: make(map[string]*node, len(cats))}
	for _, c := range cats {
		t.byID[c.ID] = &node{Category: c}
	}
	for _, c := range cats {
		n := t.byID[c.ID]
		if c.ParentID == nil {
			t.roots = append(t.roots, n)
			continue
		}
		if p, ok := t.byID[*c.ParentID]; ok {
			n.parent = p
			p.children = append(p.children, n)
		}
	}
	var walk func(ns []*node, prefix string)
	walk = func(ns []*node, prefix string) {
		slices.SortFunc(ns, func(a, b *node) int { return strings.Compare(a.Slug, b.Slug) })
		for _, n := range ns {
			n.path = prefix + n.Slug
			t.byPath[n.path] = n
			walk(n.children, n.path+"/")
		}
	}
	walk(t.roots, "")
	return t
}

// resolve finds a category by id or by path.
func (t *tree) resolve(ref string) (*node, bool) {
	ref = strings.Trim(strings.TrimSpace(ref), "/")
	if id, err := uuid.Parse(ref); err == nil {
		n, ok := t.byID[id]
		return n, ok
	}
	n, ok := t.byPath[strings.ToLower(ref)]
	return n, ok
}

// subtree returns the ids of n and all its descendants.
func (t *tree) subtree(n *node) []uuid.UUID {
	ids := []uuid.UUID{n.ID}
	for i := 0; i < len(ids); i++ {
		for _, c := range t.byID[ids[i]].children {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// wire is n as the API shows it, named in the first of prefs it has a translation for.
func (n *node) wire(prefs []string, defaultLocale string, staff bool) subjects.Category {
	c := subjects.Category{ID: n.ID.String(), Name: n.Name, Slug: n.Slug, Path: n.path}
	if n.ParentID != nil {
		c.ParentID = n.ParentID.String()
	}
	if l, ok := pickLocale(prefs, defaultLocale, n.Translations); ok {
		c.Name = n.Translations[l].Name
	}
	if staff {
		c.Translations = n.Translations
	}
	return c
}

// wireTree is the subtree of ns with children, as GET /v1/categories shows it.
func wireTree(ns []*node, prefs []string, defaultLocale string) []subjects.Category {
	out := make([]subjects.Category, len(ns))
	for i, n := range ns {
		out[i] = n.wire(prefs, defaultLocale, false)
		if len(n.children) > 0 {
			out[i].Children = wireTree(n.children, prefs, defaultLocale)
		}
	}
	return out
}

// categoryIndex holds the current tree of this instance.
type categoryIndex struct {
	store *Store
	cur   atomic.Pointer[tree]
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
	ci.cur.Store(buildTree(cats))
	return nil
}

func (ci *categoryIndex) tree() *tree { return ci.cur.Load() }

// resolve finds a category by id or path in the tree. One the tree lacks is looked up in
// the store: this instance may not have heard yet of a category created elsewhere, and then
// the tree is reloaded. An unknown one costs one indexed query, never a reload.
func (ci *categoryIndex) resolve(ctx context.Context, ref string) (*node, *tree, error) {
	t := ci.tree()
	if n, ok := t.resolve(ref); ok {
		return n, t, nil
	}
	id, err := ci.store.ResolveCategory(ctx, ref)
	if err != nil {
		return nil, t, err
	}
	if err := ci.reload(ctx); err != nil {
		return nil, t, err
	}
	t = ci.tree()
	if n, ok := t.byID[id]; ok {
		return n, t, nil
	}
	return nil, t, ErrCategoryNotFound
}

// Categories returns every category.
func (s *Store) Categories(ctx context.Context) ([]Category, error) {
	rows, err := s.db.Query(ctx, `select id, parent_id, name, slug, translations from catalog.categories`)
	if err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	cats, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Category, error) {
		var c Category
		err := r.Scan(&c.ID, &c.ParentID, &c.Name, &c.Slug, &c.Translations)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	return cats, nil
}

// ResolveCategory returns the id of the category named by id or by path, or
// ErrCategoryNotFound.
func (s *Store) ResolveCategory(ctx context.Context, ref string) (uuid.UUID, error) {
	ref = strings.ToLower(strings.Trim(strings.TrimSpace(ref), "/"))
	if ref == "" || len(ref) > 1024 || !utf8.ValidString(ref) || strings.IndexFunc(ref, unicode.IsControl) >= 0 {
		return uuid.Nil, ErrCategoryNotFound // no category has such a name, and PostgreSQL refuses a NUL
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
		return uuid.Nil, ErrCategoryNotFound
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

func categoryEvent(ctx context.Context, tx pgx.Tx, kind string, id uuid.UUID) error {
	var path string
	if err := tx.QueryRow(ctx, categoryPath, id).Scan(&path); err != nil {
		return err
	}
	evID := outbox.NewID()
	return outbox.Add(ctx, tx, Schema, outbox.Event{ID: evID, Subject: subjects.EventSubject(kind, id.String()),
		Payload: subjects.CategoryChanged{EventID: evID.String(), OccurredAt: time.Now().UTC(), CategoryID: id.String(), Path: path}})
}

func categoryWriteError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrCategoryNotFound), errors.Is(err, ErrCycle):
		return err
	case pg.Code(err) == pg.UniqueViolation:
		return ErrSlugTaken
	case pg.Code(err) == pg.ForeignKeyViolation:
		return ErrCategoryNotFound
	}
	return fmt.Errorf("%s: %w", op, err)
}

// CreateCategory inserts c with its category_created event. A slug a sibling has is
// ErrSlugTaken; an unknown parent ErrCategoryNotFound.
func (s *Store) CreateCategory(ctx context.Context, c *Category) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `insert into catalog.categories (id, parent_id, name, slug, translations) values ($1, $2, $3, $4, $5)`,
			c.ID, c.ParentID, c.Name, c.Slug, c.Translations); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `select catalog.add_words(to_tsvector('simple', catalog.fold(catalog.category_text($1))))`, c.ID); err != nil {
			return err
		}
		return categoryEvent(ctx, tx, subjects.EvtCategoryCreated.Kind, c.ID)
	})
	return categoryWriteError("create category", err)
}

// UpdateCategory runs fn on category id under its row lock and writes back what fn changed.
// A move under the category's own subtree is ErrCycle. When the names or the place in the
// tree change, the search documents of the products below are rebuilt in the same
// transaction (their category words changed).
func (s *Store) UpdateCategory(ctx context.Context, id uuid.UUID, fn func(*Category) (bool, error)) (Category, error) {
	var out Category
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var c Category
		err := tx.QueryRow(ctx, `select id, parent_id, name, slug, translations from catalog.categories where id = $1 for update`, id).
			Scan(&c.ID, &c.ParentID, &c.Name, &c.Slug, &c.Translations)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrCategoryNotFound
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
				return ErrCycle
			}
		}
		if _, err := tx.Exec(ctx, `update catalog.categories set parent_id = $2, name = $3, slug = $4, translations = $5, updated_at = now()
			where id = $1`, c.ID, c.ParentID, c.Name, c.Slug, c.Translations); err != nil {
			return err
		}
		if err := s.reindexSubtree(ctx, tx, c.ID); err != nil {
			return err
		}
		return categoryEvent(ctx, tx, subjects.EvtCategoryUpdated.Kind, c.ID)
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
