package product

import (
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/souk/souk/subjects"
)

// Node is one category of the in-memory Tree.
type Node struct {
	Category
	// Path is the slugs from the root, joined by "/".
	Path string
	// Parent is nil at the top; Children are sorted by slug.
	Parent   *Node
	Children []*Node
}

// Tree is an immutable snapshot of the category tree: every instance holds one, loaded from
// the store and reloaded when a category event arrives. Search resolves categories and
// subtrees with it and rolls facet counts up through it. Nobody writes to a built Tree.
type Tree struct {
	// ByID and ByPath index every category.
	ByID   map[uuid.UUID]*Node
	ByPath map[string]*Node
	// Roots are the top-level categories, sorted by slug.
	Roots []*Node
}

// BuildTree links cats into a Tree; a category whose parent is missing is left out of the
// walk from the roots (it keeps no path).
func BuildTree(cats []Category) *Tree {
	t := &Tree{ByID: make(map[uuid.UUID]*Node, len(cats)), ByPath: make(map[string]*Node, len(cats))}
	for _, c := range cats {
		t.ByID[c.ID] = &Node{Category: c}
	}
	for _, c := range cats {
		n := t.ByID[c.ID]
		if c.ParentID == nil {
			t.Roots = append(t.Roots, n)
			continue
		}
		if p, ok := t.ByID[*c.ParentID]; ok {
			n.Parent = p
			p.Children = append(p.Children, n)
		}
	}
	var walk func(ns []*Node, prefix string)
	walk = func(ns []*Node, prefix string) {
		slices.SortFunc(ns, func(a, b *Node) int { return strings.Compare(a.Slug, b.Slug) })
		for _, n := range ns {
			n.Path = prefix + n.Slug
			t.ByPath[n.Path] = n
			walk(n.Children, n.Path+"/")
		}
	}
	walk(t.Roots, "")
	return t
}

// Resolve finds a category by id or by path.
func (t *Tree) Resolve(ref string) (*Node, bool) {
	ref = strings.Trim(strings.TrimSpace(ref), "/")
	if id, err := uuid.Parse(ref); err == nil {
		n, ok := t.ByID[id]
		return n, ok
	}
	n, ok := t.ByPath[strings.ToLower(ref)]
	return n, ok
}

// Subtree returns the ids of n and all its descendants.
func (t *Tree) Subtree(n *Node) []uuid.UUID {
	ids := []uuid.UUID{n.ID}
	for i := 0; i < len(ids); i++ {
		for _, c := range t.ByID[ids[i]].Children {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Wire is n as the API shows it, named in the first of prefs it has a translation for.
func (n *Node) Wire(prefs []string, defaultLocale string, staff bool) subjects.Category {
	c := subjects.Category{ID: n.ID.String(), Name: n.Name, Slug: n.Slug, Path: n.Path}
	if n.ParentID != nil {
		c.ParentID = n.ParentID.String()
	}
	if l, ok := PickLocale(prefs, defaultLocale, n.Translations); ok {
		c.Name = n.Translations[l].Name
	}
	if staff {
		c.Translations = n.Translations
	}
	return c
}

// WireTree is the subtree of ns with children, as GET /v1/categories shows it.
func WireTree(ns []*Node, prefs []string, defaultLocale string) []subjects.Category {
	out := make([]subjects.Category, len(ns))
	for i, n := range ns {
		out[i] = n.Wire(prefs, defaultLocale, false)
		if len(n.Children) > 0 {
			out[i].Children = WireTree(n.Children, prefs, defaultLocale)
		}
	}
	return out
}
