package site

import (
	"slices"
	"strings"

	"github.com/souk/souk/subjects"
)

// tree is the category tree of the view, built from the catalog's flat document.
type tree struct {
	byID, byPath map[string]*node
	roots        []*node
}

type node struct {
	c        subjects.Category
	children []*node
}

func buildTree(items []subjects.Category) *tree {
	t := &tree{byID: map[string]*node{}, byPath: map[string]*node{}}
	for _, c := range items {
		c.Children = nil
		n := &node{c: c}
		t.byID[c.ID], t.byPath[c.Path] = n, n
	}
	for _, n := range t.byID {
		if p := t.byID[n.c.ParentID]; n.c.ParentID != "" && p != nil {
			p.children = append(p.children, n)
		} else {
			t.roots = append(t.roots, n)
		}
	}
	bySlug := func(a, b *node) int { return strings.Compare(a.c.Slug, b.c.Slug) }
	slices.SortFunc(t.roots, bySlug)
	for _, n := range t.byID {
		slices.SortFunc(n.children, bySlug)
	}
	return t
}

// resolve finds a category by id or by path.
func (t *tree) resolve(ref string) *node {
	ref = strings.Trim(strings.TrimSpace(ref), "/")
	if n := t.byID[strings.ToLower(ref)]; n != nil {
		return n
	}
	return t.byPath[strings.ToLower(ref)]
}

// subtree is the set of ids of n and its descendants.
func (t *tree) subtree(n *node) map[string]bool {
	ids := map[string]bool{}
	var walk func(*node)
	walk = func(n *node) {
		ids[n.c.ID] = true
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(n)
	return ids
}

// wire is ns with their children as GET /v1/categories shows them, named in the caller's
// language.
func (t *tree) wire(ns []*node, acceptLanguage, def string) []subjects.Category {
	out := make([]subjects.Category, len(ns))
	for i, n := range ns {
		c := n.c
		if tr, ok := c.Translations[pickLocale(acceptLanguage, def, c.Translations)]; ok && tr.Name != "" {
			c.Name = tr.Name
		}
		c.Translations = nil
		if len(n.children) > 0 {
			c.Children = t.wire(n.children, acceptLanguage, def)
		}
		out[i] = c
	}
	return out
}
