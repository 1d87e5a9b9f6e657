// Package demodata is the demo catalog of `souk seed`: a pure, deterministic generator of
// categories and products for demos, the README and search load tests. It does no I/O: the
// catalog service's bulk import (catalog.Import) stores what it generates, through the
// contract's request types.
package demodata

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/souk/souk/subjects"
)

// Category is one category of the demo catalog, parents before children.
type Category struct {
	// Path is the slugs from the root, joined by "/": "electronics/audio/headphones".
	Path string
	// Name is the English name.
	Name string
	// Slug is the last element of Path.
	Slug string
	// Translations of the name by locale: "de" and "fr".
	Translations map[string]subjects.CategoryText
}

// Catalog returns the demo categories and n products (a negative n counts as 0). It does
// no I/O and is deterministic: the same n gives the same catalog byte for byte, and product i
// comes from its own random stream, seeded by a fixed seed and i alone, so product i of
// Catalog(n) is the same for every n > i and a larger seed extends a smaller one.
//
// Products are in leaf categories only (CategoryID is the category's Path), in English, with
// "de" and "fr" translations of name and description, 3 to 5 attributes ("brand" always),
// a price in EUR cents, SKU "DEMO-" and the zero-padded index, and one or two image URLs.
func Catalog(n int) ([]Category, []subjects.ProductCreateRequest) {
	d := demo()
	cats := make([]Category, len(d.cats))
	for i, c := range d.cats {
		cats[i] = Category{
			Path: c.path,
			Name: c.name[langEN],
			Slug: c.path[strings.LastIndexByte(c.path, '/')+1:],
			Translations: map[string]subjects.CategoryText{
				"de": {Name: c.name[langDE]},
				"fr": {Name: c.name[langFR]},
			},
		}
	}
	products := make([]subjects.ProductCreateRequest, max(n, 0))
	g := newGenerator(d)
	for i := range products {
		products[i] = g.product(i)
	}
	return cats, products
}

// Request is c as the contract asks to create it: its parent named by path ("" at the top).
func (c Category) Request() subjects.CategoryCreateRequest {
	parent := ""
	if i := strings.LastIndexByte(c.Path, '/'); i >= 0 {
		parent = c.Path[:i]
	}
	return subjects.CategoryCreateRequest{Name: c.Name, Slug: c.Slug, ParentID: parent, Translations: c.Translations}
}

// Requests are cats as the contract asks to create them, parents first.
func Requests(cats []Category) []subjects.CategoryCreateRequest {
	out := make([]subjects.CategoryCreateRequest, len(cats))
	for i, c := range cats {
		out[i] = c.Request()
	}
	return out
}

// streamKey seeds every product's random stream; changing it changes the whole demo catalog.
const streamKey = 0x736f756b2d736565 // "souk-see"

// The languages of the demo, as indexes into a phrase.
const (
	langEN = iota
	langDE
	langFR
)

// vocabulary is the static vocabulary of the demo: read-only once built.
type vocabulary struct {
	cats   []catSpec
	leaves []*leafSpec
	intros [3][]introTemplate // by leafSpec.kind
	first  []string           // authors' and directors' first names
	last   []string
}

// demo builds the vocabulary once, on first use, rather than at every program start.
var demo = sync.OnceValue(func() *vocabulary {
	t := treeBuilder{attrs: attrSpecs()}
	t.electronics()
	t.home()
	t.sports()
	t.fashion()
	t.books()
	t.toys()
	t.garden()
	return &vocabulary{
		cats:   t.cats,
		leaves: t.leaves,
		intros: introTemplates(),
		first: strings.Fields("Clara Jonas Amélie Tomás Ingrid Malik Sofia Henrik Léa Mateo " +
			"Yuki Nora Elias Greta Omar Julia Felix Camille Ravi Astrid"),
		last: strings.Fields("Whitfield Brandt Moreau Lindqvist Okafor Rossi Hartmann Delacroix " +
			"Novak Castellano Fischer Laurent Bergström Haddad Kowalski Marsh Vogel Duval Ellison Sato"),
	}
})

// generator writes products. It is not safe for concurrent use: it reuses its random source
// and its text buffer.
type generator struct {
	d   *vocabulary
	src *rand.PCG
	r   *rand.Rand
	buf []byte
}

func newGenerator(d *vocabulary) *generator {
	src := rand.NewPCG(0, 0)
	return &generator{d: d, src: src, r: rand.New(src), buf: make([]byte, 0, 4096)}
}

// maxAttrs bounds a leaf's attributes besides the brand.
const maxAttrs = 4

// draw is what product i's random stream chose; its texts are written from it.
type draw struct {
	leaf   *leafSpec
	brand  string
	model  string // the model line ("Studio"), goods only
	gen    string // the model's generation ("3", "Plus"), often ""
	noun   *nounForm
	adj    *adjective // nil: a name without adjective (goods only)
	vals   [maxAttrs]int
	shown  [2]int // the attributes the description mentions, -1 for none
	intro  *introTemplate
	use    *phrase
	author [2]string // books and films
	price  int64
	images int
}

// pick draws product i. The order of the draws is part of the catalog: changing it changes
// every product.
func (g *generator) pick(i int) draw {
	g.src.Seed(streamKey, mix(uint64(i)))
	r := g.r
	l := g.d.leaves[r.IntN(len(g.d.leaves))]
	p := draw{leaf: l, brand: oneOf(r, l.brands), shown: [2]int{-1, -1}}
	p.noun = &l.nouns[r.IntN(len(l.nouns))]
	if l.kind == kindGoods {
		p.model = oneOf(r, l.models)
		p.gen = oneOf(r, l.gens)
		if r.IntN(10) < 7 {
			p.adj = &l.adjs[r.IntN(len(l.adjs))]
		}
	} else {
		p.adj = &l.adjs[r.IntN(len(l.adjs))]
		p.author = [2]string{oneOf(r, g.d.first), oneOf(r, g.d.last)}
	}
	for k, a := range l.attrs {
		p.vals[k] = r.IntN(len(a.vals))
	}
	if p.adj != nil && p.adj.setAttr >= 0 {
		p.vals[p.adj.setAttr] = p.adj.setVal
	}
	if k := r.IntN(20); k >= 3 { // 15 % without, 40 % with one, 45 % with two attributes
		p.shown[0] = r.IntN(len(l.attrs))
		if k >= 11 {
			s := r.IntN(len(l.attrs) - 1)
			if s >= p.shown[0] {
				s++
			}
			p.shown[1] = s
		}
	}
	intros := g.d.intros[l.kind]
	p.intro = &intros[r.IntN(len(intros))]
	p.use = &l.uses[r.IntN(len(l.uses))]
	p.price = drawPrice(r, l.lo, l.hi)
	p.images = 1 + r.IntN(2)
	return p
}

// product writes all the texts of product i into one buffer and makes one string of it,
// which the fields share: one allocation for the texts instead of a dozen.
func (g *generator) product(i int) subjects.ProductCreateRequest {
	p := g.pick(i)
	g.buf = append(g.buf[:0], "DEMO-"...)
	for w := 100000; w > 1 && i < w; w /= 10 { // zero-padded to six digits
		g.buf = append(g.buf, '0')
	}
	g.buf = strconv.AppendInt(g.buf, int64(i), 10)
	var ends [10]int // sku, name and description by language, images
	ends[0] = len(g.buf)
	for lang := range 3 {
		g.name(&p, lang)
		ends[1+2*lang] = len(g.buf)
		g.desc(&p, lang)
		ends[2+2*lang] = len(g.buf)
	}
	for k := range p.images {
		g.put("https://images.souk.example/demo/")
		g.buf = append(g.buf, g.buf[:ends[0]]...)
		g.put("-")
		g.buf = strconv.AppendInt(g.buf, int64(k+1), 10)
		g.put(".jpg")
		ends[7+k] = len(g.buf)
	}
	s := string(g.buf)
	cut := func(k int) string { return s[ends[k-1]:ends[k]] }
	images := make([]string, p.images)
	for k := range images {
		images[k] = cut(7 + k)
	}
	attrs := make(map[string]string, len(p.leaf.attrs)+1)
	attrs["brand"] = p.brand
	for k, a := range p.leaf.attrs {
		attrs[a.name] = a.vals[p.vals[k]][langEN]
	}
	return subjects.ProductCreateRequest{
		SKU:         s[:ends[0]],
		Name:        cut(1),
		Description: cut(2),
		Price:       subjects.Money{Amount: p.price, Currency: "EUR"},
		CategoryID:  p.leaf.path,
		Attributes:  attrs,
		Images:      images,
		Translations: map[string]subjects.ProductText{
			"de": {Name: cut(3), Description: cut(4)},
			"fr": {Name: cut(5), Description: cut(6)},
		},
	}
}

func (g *generator) put(s string) { g.buf = append(g.buf, s...) }

// name writes the product's name: "Sonora Studio 3 Wireless Headphones", "Sonora Studio 3
// kabellose Kopfhörer", "Casque sans fil Sonora Studio 3"; a book's or film's is its title.
func (g *generator) name(p *draw, lang int) {
	switch {
	case p.leaf.kind == kindFilm: // a film's first attribute is its format
		g.title(p, lang)
		g.put(" (")
		g.put(p.leaf.attrs[0].vals[p.vals[0]][lang])
		g.put(")")
	case p.leaf.kind == kindBook:
		g.title(p, lang)
		g.put(p.leaf.suffix[lang])
	case lang == langEN:
		g.line(p)
		if p.adj != nil {
			g.put(" ")
			g.put(p.adj.en)
		}
		g.put(" ")
		g.put(p.noun.t[langEN])
	case lang == langDE:
		g.line(p)
		g.put(" ")
		g.germanNP(p.adj, p.noun, false)
	default:
		g.put(p.noun.t[langFR])
		if p.adj != nil {
			g.put(" ")
			g.put(p.adj.fr[p.noun.fr])
		}
		g.put(" ")
		g.line(p)
	}
}

// line writes brand, model line and generation: "Sonora Studio 3".
func (g *generator) line(p *draw) {
	g.put(p.brand)
	g.put(" ")
	g.put(p.model)
	if p.gen != "" {
		g.put(" ")
		g.put(p.gen)
	}
}

// germanNP writes a German noun phrase without article: the adjective in its strong ending
// ("kabellose Kopfhörer", "tragbarer Lautsprecher"), or in the weak one after a definite
// article; an adjective ending in "-" is a hyphenated prefix ("Over-Ear-Kopfhörer"), one
// ending in "+" is glued to the noun ("Familienzelt").
func (g *generator) germanNP(a *adjective, n *nounForm, weak bool) {
	if a == nil {
		g.put(n.t[langDE])
		return
	}
	switch a.de[len(a.de)-1] {
	case '-':
		g.put(a.de)
		g.put(n.t[langDE])
	case '+':
		g.put(a.de[:len(a.de)-1])
		g.putCase(n.t[langDE], unicode.ToLower)
	default:
		g.put(a.de)
		if weak {
			g.put("e")
		} else {
			g.put([4]string{"er", "e", "es", "e"}[n.de])
		}
		g.put(" ")
		g.put(n.t[langDE])
	}
}

// title writes a book's or film's title: "The Silent Harbor", "Der stille Hafen", "Le Port
// silencieux", "L'Île oubliée", "Le Petit Renard".
func (g *generator) title(p *draw, lang int) {
	a, n := p.adj, p.noun
	switch lang {
	case langEN:
		g.put("The ")
		g.put(a.en)
		g.put(" ")
		g.put(n.t[langEN])
	case langDE:
		g.put([4]string{"Der ", "Die ", "Das ", "Die "}[n.de])
		g.germanNP(a, n, true)
	default:
		first, adj := n.t[langFR], a.fr[n.fr]
		if a.frBefore {
			first = adj
		}
		switch {
		case startsWithVowel(first):
			g.put("L'")
		case n.fr == 1:
			g.put("La ")
		default:
			g.put("Le ")
		}
		if a.frBefore {
			g.putCase(adj, unicode.ToUpper)
			g.put(" ")
			g.putCase(n.t[langFR], unicode.ToUpper)
		} else {
			g.putCase(n.t[langFR], unicode.ToUpper)
			g.put(" ")
			g.put(adj)
		}
	}
}

// frenchDe writes the French "de" before a name, elided before a vowel: "d'Amélie", but
// "de Havana Row", "de Yuki".
func (g *generator) frenchDe(name string) {
	if strings.ContainsRune("AEIOUÉÎ", firstRune(name)) {
		g.put("d'")
	} else {
		g.put("de ")
	}
}

// startsWithVowel reports whether a French word starts with a vowel or a mute h (the titles hold
// no aspirated one).
func startsWithVowel(word string) bool {
	return strings.ContainsRune("aeiouyhàâéèêîôûAEIOUYHÉÎ", firstRune(word))
}

// putCase writes s with its first letter mapped by to.
func (g *generator) putCase(s string, to func(rune) rune) {
	r, size := utf8.DecodeRuneInString(s)
	g.buf = utf8.AppendRune(g.buf, to(r))
	g.put(s[size:])
}

func firstRune(s string) rune {
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

// desc writes the description: the intro sentence, then the sentences of the shown
// attributes.
func (g *generator) desc(p *draw, lang int) {
	for _, part := range p.intro.parts[lang] {
		switch part.slot {
		case slotLit:
			g.put(part.lit)
		case slotName:
			g.name(p, lang)
		case slotTitle:
			g.title(p, lang)
		case slotBrand:
			g.put(p.brand)
		case slotModel:
			g.put(p.model)
		case slotUse:
			g.put(p.use[lang])
		case slotAuthor:
			g.put(p.author[0])
			g.put(" ")
			g.put(p.author[1])
		case slotDeAuthor:
			g.frenchDe(p.author[0])
			g.put(p.author[0])
			g.put(" ")
			g.put(p.author[1])
		case slotDeBrand:
			g.frenchDe(p.brand)
			g.put(p.brand)
		case slotAgree:
			g.put(p.intro.agree.fr[p.noun.fr])
		}
	}
	for _, k := range p.shown {
		if k < 0 {
			continue
		}
		a := p.leaf.attrs[k]
		g.put(" ")
		g.put(a.pre[lang])
		g.put(a.vals[p.vals[k]][lang])
		g.put(a.post[lang])
	}
}

// drawPrice draws a price in cents between lo and hi euros, cheap ones more often than dear
// ones, ending like shop prices do: 24.99, 39.49, 1299.00, 1299.99.
func drawPrice(r *rand.Rand, lo, hi int64) int64 {
	span := hi - lo
	x := r.Int64N(span + 1)
	e := lo + x*x/span
	switch {
	case e >= 100:
		e = (e + 5) / 10 * 10
		if r.IntN(4) != 0 {
			e--
		}
	case e >= 20 && r.IntN(2) == 0:
		e = e/10*10 + 9
	}
	e = min(max(e, lo), hi)
	var cents int64
	if e < 100 || e%10 != 0 {
		switch r.IntN(10) {
		case 0, 1, 2, 3, 4, 5:
			cents = 99
		case 6, 7:
			cents = 49
		}
	}
	return e*100 + cents
}

// mix is splitmix64's finalizer: it spreads consecutive indexes over the seed space.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func oneOf(r *rand.Rand, s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[r.IntN(len(s))]
}

// phrase is one phrase in English, German and French, indexed by langEN, langDE, langFR.
type phrase [3]string

// parsePhrase parses "english|deutsch|français". One part is the same in all three languages; two
// parts are the English form and one shared by German and French ("15.6|15,6").
func parsePhrase(s string) phrase {
	p := strings.Split(s, "|")
	switch len(p) {
	case 1:
		return phrase{p[0], p[0], p[0]}
	case 2:
		return phrase{p[0], p[1], p[1]}
	case 3:
		return phrase{p[0], p[1], p[2]}
	}
	panic("demodata: bad demo text " + strconv.Quote(s))
}

func phrases(ss ...string) []phrase {
	out := make([]phrase, len(ss))
	for i, s := range ss {
		out[i] = parsePhrase(s)
	}
	return out
}

// nounForm is what a product is ("Headphones") or, in a title, what it is about ("Harbor").
type nounForm struct {
	t phrase
	// de is the German gender: 0 masculine, 1 feminine, 2 neuter, 3 plural.
	de int
	// fr is the French gender and number: 0 masculine, 1 feminine, 2 and 3 their plurals.
	fr int
}

// nounForms parses "Headphones|Kopfhörer:p|Casque:m": German gender m, f, n or p (plural),
// French m, f, mp or fp.
func nounForms(ss ...string) []nounForm {
	out := make([]nounForm, len(ss))
	for i, s := range ss {
		p := strings.Split(s, "|")
		if len(p) != 3 {
			panic("demodata: bad demo noun " + strconv.Quote(s))
		}
		deWord, deG, _ := strings.Cut(p[1], ":")
		frWord, frG, _ := strings.Cut(p[2], ":")
		out[i] = nounForm{t: phrase{p[0], deWord, frWord},
			de: strings.Index("mfnp", deG), fr: map[string]int{"m": 1, "f": 2, "mp": 3, "fp": 4}[frG] - 1}
		if out[i].de < 0 || len(deG) != 1 || out[i].fr < 0 {
			panic("demodata: bad demo noun gender " + strconv.Quote(s))
		}
	}
	return out
}

// adjective qualifies a noun: "Wireless", "kabellos", "sans fil".
type adjective struct {
	en string
	// de is a stem that takes an ending ("kabellos"), a prefix ending in "-"
	// ("Over-Ear-Kopfhörer") or one ending in "+" glued to the noun ("Familienzelt").
	de string
	// fr holds the French forms by nounForm.fr; frBefore puts the adjective before the noun
	// ("Le Petit Renard").
	fr       [4]string
	frBefore bool
	// set is "name=value": the attribute value the adjective implies ("Wireless" implies
	// connectivity=Bluetooth); setAttr (an index into the leaf's attributes, -1 for none)
	// and setVal locate that value once resolved.
	set     string
	setAttr int
	setVal  int
}

// adjectives parses "Compact|kompakt|compact/compacte" with an optional fourth part
// "name=value". French forms are m/f/mp/fp; missing ones follow the usual rules, and a
// leading "<" puts the adjective before the noun.
func adjectives(ss ...string) []adjective {
	out := make([]adjective, len(ss))
	for i, s := range ss {
		p := strings.Split(s, "|")
		if len(p) != 3 && len(p) != 4 {
			panic("demodata: bad demo adjective " + strconv.Quote(s))
		}
		a := adjective{en: p[0], de: p[1], setAttr: -1}
		fr, before := strings.CutPrefix(p[2], "<")
		a.frBefore = before
		f := strings.Split(fr, "/")
		if len(f) < 2 {
			f = append(f, f[0])
		}
		if len(f) == 2 {
			f = append(f, plural(f[0]), plural(f[1]))
		}
		a.fr = [4]string(f)
		if len(p) == 4 {
			a.set = p[3]
		}
		out[i] = a
	}
	return out
}

// plural is the French plural of an adjective: phrases ("sans fil"), names ("GPS", "5G")
// and words in s or x do not change, "al" becomes "aux", others take an s.
func plural(w string) string {
	r := firstRune(w)
	switch {
	case strings.ContainsRune(w, ' ') || unicode.IsUpper(r) || unicode.IsDigit(r),
		strings.HasSuffix(w, "s") || strings.HasSuffix(w, "x"):
		return w
	case strings.HasSuffix(w, "al"):
		return w[:len(w)-2] + "aux"
	}
	return w + "s"
}

// attrSpec is an attribute with its vocabulary and the sentence that describes it.
type attrSpec struct {
	name      string
	pre, post phrase // the sentence around the value: "Available in " and "."
	vals      []phrase
}

// newAttr makes an attribute; sentence is a parsePhrase with % where the value goes.
func newAttr(name, sentence string, vals ...string) *attrSpec {
	a := &attrSpec{name: name, vals: phrases(vals...)}
	for lang, s := range parsePhrase(sentence) {
		pre, post, ok := strings.Cut(s, "%")
		if !ok {
			panic("demodata: demo sentence without %: " + strconv.Quote(sentence))
		}
		a.pre[lang], a.post[lang] = pre, post
	}
	return a
}

// The kinds of leaf: how their products are named and described.
const (
	kindGoods = iota // brand, model, adjective and noun: "Sonora Studio Wireless Headphones"
	kindBook         // a title and the leaf's suffix: "The Silent Harbor: A Novel"
	kindFilm         // a title and the format, the leaf's first attribute: "… (Blu-ray)"
)

// productLine is a department's brands, model lines and model generations.
type productLine struct {
	brands, models, gens []string
}

// leafSpec is a leaf category and what its products are made of.
type leafSpec struct {
	path string
	kind int
	*productLine
	nouns []nounForm  // books and films: the nouns of titles
	adjs  []adjective // books and films: the adjectives of titles
	attrs []*attrSpec
	// uses complete "designed for …"; for books and films, a blurb.
	uses   []phrase
	suffix phrase // books: after the title
	lo, hi int64  // the price range in euros
}

// catSpec is a category of the demo tree.
type catSpec struct {
	path string
	name phrase
}

// treeBuilder collects the categories and leaves, checking them as they come: a mistake in the
// tables panics on the first call, which every test makes.
type treeBuilder struct {
	attrs  map[string]*attrSpec
	cats   []catSpec
	leaves []*leafSpec
}

// cat adds an inner category; its parent must come first.
func (t *treeBuilder) cat(path, names string) {
	if i := strings.LastIndexByte(path, '/'); i >= 0 && !t.has(path[:i]) {
		panic("demodata: demo category before its parent: " + path)
	}
	t.cats = append(t.cats, catSpec{path: path, name: parsePhrase(names)})
}

func (t *treeBuilder) has(path string) bool {
	for _, c := range t.cats {
		if c.path == path {
			return true
		}
	}
	return false
}

// leaf adds a leaf category and resolves the attribute values its adjectives imply.
func (t *treeBuilder) leaf(path, names string, l leafSpec) {
	t.cat(path, names)
	l.path = path
	if len(l.attrs) < 2 || len(l.attrs) > maxAttrs || len(l.nouns) == 0 || len(l.adjs) == 0 ||
		len(l.uses) == 0 || len(l.brands) == 0 || l.lo < 1 || l.hi <= l.lo ||
		(l.kind == kindGoods && len(l.models) == 0) || (l.kind == kindFilm && l.attrs[0].name != "format") {
		panic("demodata: incomplete demo leaf " + path)
	}
	for i := range l.adjs {
		if a := &l.adjs[i]; a.set != "" {
			a.setAttr, a.setVal = l.index(a.set)
		}
	}
	t.leaves = append(t.leaves, &l)
}

// index finds "name=value" among the leaf's attributes.
func (l *leafSpec) index(set string) (int, int) {
	name, value, _ := strings.Cut(set, "=")
	for k, a := range l.attrs {
		for v, t := range a.vals {
			if a.name == name && t[langEN] == value {
				return k, v
			}
		}
	}
	panic("demodata: demo leaf " + l.path + " has no attribute " + set)
}

// of returns attributes by "name" (the whole vocabulary) or "name:value,value" (a part).
func (t *treeBuilder) of(specs ...string) []*attrSpec {
	out := make([]*attrSpec, len(specs))
	for i, spec := range specs {
		name, values, part := strings.Cut(spec, ":")
		a := t.attrs[name]
		if a == nil {
			panic("demodata: no demo attribute " + name)
		}
		if part {
			sub := *a
			sub.vals = nil
			for _, v := range strings.Split(values, ",") {
				n := indexOf(a.vals, v)
				if n < 0 {
					panic("demodata: demo attribute " + name + " has no value " + v)
				}
				sub.vals = append(sub.vals, a.vals[n])
			}
			a = &sub
		}
		out[i] = a
	}
	return out
}

func indexOf(vals []phrase, en string) int {
	for i, v := range vals {
		if v[langEN] == en {
			return i
		}
	}
	return -1
}

// The slots of an intro template.
const (
	slotLit = iota
	slotName
	slotTitle
	slotBrand
	slotModel
	slotUse
	slotAuthor
	slotDeAuthor // French "de" + author, elided: "d'Amélie Rossi"
	slotDeBrand
	slotAgree // a French participle agreeing with the noun: "conçu", "conçues"
)

// introTemplate is the first sentence of a description, by language.
type introTemplate struct {
	parts [3][]templatePart
	agree adjective
}

type templatePart struct {
	lit  string
	slot int
}

// parseTemplate parses a parsePhrase of templates with {name}, {title}, {brand}, {model}, {use},
// {author}, {de author}, {de brand} and {agree}.
func parseTemplate(s, agree string) introTemplate {
	slots := map[string]int{"name": slotName, "title": slotTitle, "brand": slotBrand,
		"model": slotModel, "use": slotUse, "author": slotAuthor,
		"de author": slotDeAuthor, "de brand": slotDeBrand, "agree": slotAgree}
	var in introTemplate
	if agree != "" {
		in.agree = adjectives("-|-|" + agree)[0]
	}
	for lang, t := range parsePhrase(s) {
		for t != "" {
			lit, rest, _ := strings.Cut(t, "{")
			if lit != "" {
				in.parts[lang] = append(in.parts[lang], templatePart{lit: lit})
			}
			if rest == "" {
				break
			}
			name, after, _ := strings.Cut(rest, "}")
			slot, ok := slots[name]
			if !ok {
				panic("demodata: bad demo template slot " + strconv.Quote(name))
			}
			in.parts[lang] = append(in.parts[lang], templatePart{slot: slot})
			t = after
		}
	}
	return in
}

// introTemplates are the first sentences of descriptions, by leaf kind.
func introTemplates() [3][]introTemplate {
	return [3][]introTemplate{
		kindGoods: {
			parseTemplate("{name}, designed for {use}.|{name}, entwickelt für {use}.|{name}, {agree} pour {use}.", "conçu/conçue"),
			parseTemplate("The {model} line from {brand}, ideal for {use}.|Die {model}-Serie von {brand}, ideal für {use}.|La gamme {model} {de brand}, idéale pour {use}.", ""),
			parseTemplate("Quality by {brand} for {use}.|Qualität von {brand} für {use}.|La qualité {brand} pour {use}.", ""),
			parseTemplate("Made for {use}: {name}.|Wie gemacht für {use}: {name}.|{agree} pour {use} : {name}.", "Pensé/Pensée/Pensés/Pensées"),
		},
		kindBook: {
			parseTemplate("{title}, by {author}: {use}.|{title} von {author}: {use}.|{title}, {de author} : {use}.", ""),
			parseTemplate("By {author}: {use}.|Von {author}: {use}.|Par {author} : {use}.", ""),
		},
		kindFilm: {
			parseTemplate("{title}, a film by {author}: {use}.|{title}, ein Film von {author}: {use}.|{title}, un film {de author} : {use}.", ""),
			parseTemplate("Directed by {author}: {use}.|Regie: {author} – {use}.|Réalisé par {author} : {use}.", ""),
		},
	}
}

// attrSpecs is every attribute of the demo with its whole vocabulary; leaves use parts of
// them. Each has at most 15 values, so a facet stays readable.
func attrSpecs() map[string]*attrSpec {
	list := []*attrSpec{
		newAttr("color", "Available in %.|Erhältlich in %.|Coloris : %.",
			"black|Schwarz|noir", "white|Weiß|blanc", "silver|Silber|argent", "gray|Grau|gris",
			"blue|Blau|bleu", "navy|Marineblau|bleu marine", "red|Rot|rouge", "green|Grün|vert",
			"beige|Beige|beige", "pink|Rosa|rose", "yellow|Gelb|jaune", "brown|Braun|marron",
			"olive|Oliv|olive", "orange|Orange|orange", "gold|Gold|doré"),
		newAttr("lens_color", "Lens color: %.|Glasfarbe: %.|Couleur des verres : %.",
			"gray|Grau|gris", "brown|Braun|marron", "green|Grün|vert", "blue|Blau|bleu"),
		newAttr("material", "Made of %.|Material: %.|Matière : %.",
			"stainless steel|Edelstahl|acier inoxydable", "cast iron|Gusseisen|fonte",
			"ceramic|Keramik|céramique", "aluminum|Aluminium|aluminium", "bamboo|Bambus|bambou",
			"glass|Glas|verre", "oak|Eiche|chêne", "cotton|Baumwolle|coton", "wool|Wolle|laine",
			"linen|Leinen|lin", "leather|Leder|cuir", "polyester|Polyester|polyester",
			"nylon|Nylon|nylon", "canvas|Canvas|toile"),
		newAttr("size", "Size %.|Größe %.|Taille %.", "XS", "S", "M", "L", "XL", "XXL"),
		newAttr("shoe_size", "EU size %.|EU-Größe %.|Pointure %.",
			"36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46"),
		newAttr("fit", "Fit: %.|Passform: %.|Coupe : %.",
			"slim|Slim Fit|ajustée", "regular|Regular Fit|droite", "relaxed|Relaxed Fit|ample"),
		newAttr("connectivity", "Connectivity: %.|Verbindung: %.|Connectivité : %.",
			"Bluetooth", "wired|kabelgebunden|filaire", "Wi-Fi|WLAN|Wi-Fi",
			"2.4 GHz wireless|2,4-GHz-Funk|sans fil 2,4 GHz"),
		newAttr("battery_hours", "Up to % hours of battery life.|Bis zu % Stunden Akkulaufzeit.|Jusqu'à % heures d'autonomie.",
			"8", "12", "20", "30", "40", "60"),
		newAttr("capacity_gb", "Storage: % GB.|Speicherplatz: % GB.|Stockage : % Go.",
			"64", "128", "256", "512", "1024", "2048", "4096"),
		newAttr("ram_gb", "% GB of RAM.|% GB Arbeitsspeicher.|% Go de mémoire vive.", "8", "16", "32", "64"),
		newAttr("screen_inches", "%-inch display.|Bildschirmdiagonale: % Zoll.|Écran de % pouces.",
			"6.1|6,1", "6.7|6,7", "11", "13.3|13,3", "14", "15.6|15,6", "16", "24", "27", "32",
			"43", "55", "65", "75"),
		newAttr("resolution", "Resolution: %.|Auflösung: %.|Résolution : %.", "Full HD", "QHD", "4K", "5K", "8K"),
		newAttr("megapixels", "% megapixel sensor.|Sensor mit % Megapixeln.|Capteur de % mégapixels.",
			"20", "24", "33", "45", "61"),
		newAttr("sensor_format", "Sensor format: %.|Sensorformat: %.|Format du capteur : %.",
			"full frame|Vollformat|plein format", "APS-C", "Micro Four Thirds"),
		newAttr("switch_type", "Switches: %.|Schalter: %.|Switchs : %.",
			"linear|linear|linéaires", "tactile|taktil|tactiles", "clicky|klickend|clicky"),
		newAttr("layout", "Layout: %.|Tastaturlayout: %.|Disposition : %.", "US", "UK", "DE", "FR"),
		newAttr("dpi", "Up to % DPI.|Bis zu % DPI.|Jusqu'à % DPI.", "1600", "4000", "8000", "16000", "26000"),
		newAttr("length_m", "Length: % m.|Länge: % m.|Longueur : % m.",
			"0.5|0,5", "1", "2", "3", "15", "20", "25", "30"),
		newAttr("power_w", "% W of power.|Leistung: % W.|Puissance : % W.",
			"20", "30", "65", "100", "600", "800", "1000", "1200", "1500", "2000", "2200"),
		newAttr("capacity_l", "Capacity: % liters.|Volumen: % Liter.|Capacité : % litres.",
			"10", "15", "20", "30", "45", "65"),
		newAttr("diameter_cm", "Diameter: % cm.|Durchmesser: % cm.|Diamètre : % cm.", "20", "24", "28", "32"),
		newAttr("blade_cm", "Blade length: % cm.|Klingenlänge: % cm.|Longueur de lame : % cm.", "9", "15", "20", "23"),
		newAttr("width_cm", "Width: % cm.|Breite: % cm.|Largeur : % cm.",
			"60", "80", "100", "120", "140", "160", "180"),
		newAttr("dimensions_cm", "Dimensions: % cm.|Maße: % cm.|Dimensions : % cm.",
			"90x200", "140x200", "160x200", "200x220", "60x90", "80x150", "120x170", "160x230", "200x300"),
		newAttr("color_temp_k", "Color temperature: % K.|Farbtemperatur: % K.|Température de couleur : % K.",
			"2700", "3000", "4000"),
		newAttr("persons", "Sleeps %.|Für % Personen.|Pour % personnes.", "2", "3", "4", "6"),
		newAttr("comfort_temp_c", "Comfort temperature: % °C.|Komforttemperatur: % °C.|Température de confort : % °C.",
			"-10", "-5", "0", "5", "10"),
		newAttr("weight_kg", "Weight: % kg.|Gewicht: % kg.|Poids : % kg.", "2", "4", "8", "12", "16", "20", "24", "32"),
		newAttr("thickness_mm", "Thickness: % mm.|Stärke: % mm.|Épaisseur : % mm.", "3", "4", "6", "8"),
		newAttr("max_user_kg", "Maximum user weight: % kg.|Maximales Benutzergewicht: % kg.|Poids maximal de l'utilisateur : % kg.",
			"100", "120", "130", "150"),
		newAttr("wheel_inches", "%-inch wheels.|Laufradgröße: % Zoll.|Roues de % pouces.", "26", "27.5|27,5", "28", "29"),
		newAttr("water_resistance_m", "Water-resistant to % m.|Wasserdicht bis % m.|Étanche jusqu'à % m.",
			"30", "50", "100", "200"),
		newAttr("format", "Format: %.|Format: %.|Format : %.",
			"hardcover|gebundene Ausgabe|relié", "paperback|Taschenbuch|broché",
			"board book|Pappbilderbuch|livre cartonné", "Blu-ray", "DVD", "4K Ultra HD"),
		newAttr("language", "Language: %.|Sprache: %.|Langue : %.",
			"English|Englisch|anglais", "German|Deutsch|allemand", "French|Französisch|français",
			"Spanish|Spanisch|espagnol"),
		newAttr("genre", "Genre: %.|Genre: %.|Genre : %.",
			"literary fiction|Gegenwartsliteratur|littérature contemporaine", "romance|Liebesroman|roman d'amour",
			"historical fiction|historischer Roman|roman historique", "fantasy|Fantasy|fantasy",
			"science fiction|Science-Fiction|science-fiction", "thriller|Thriller|thriller",
			"mystery|Krimi|roman policier", "drama|Drama|drame", "comedy|Komödie|comédie",
			"animation|Animation|animation", "documentary|Dokumentarfilm|documentaire"),
		newAttr("cuisine", "Cuisine: %.|Küche: %.|Cuisine : %.",
			"Italian|italienisch|italienne", "French|französisch|française", "vegetarian|vegetarisch|végétarienne",
			"baking|Backen|pâtisserie", "Asian|asiatisch|asiatique", "Mediterranean|mediterran|méditerranéenne"),
		newAttr("pages", "% pages.|% Seiten.|% pages.", "32", "48", "256", "320", "384", "448", "512"),
		newAttr("age", "Recommended age: % years.|Empfohlenes Alter: % Jahre.|Âge recommandé : % ans.",
			"0-2", "3-5", "6-8", "9-12", "12+"),
		newAttr("pieces", "Contains % pieces.|Enthält % Teile.|Contient % pièces.",
			"100", "250", "500", "750", "1000", "1500", "2000", "3000"),
		newAttr("players", "For % players.|Für % Spieler.|Pour % joueurs.", "1-4", "2-4", "2-6", "3-8"),
		newAttr("voltage_v", "% V battery platform.|%-V-Akkusystem.|Plateforme de batterie % V.", "12", "18", "36"),
		newAttr("cutting_width_cm", "Cutting width: % cm.|Schnittbreite: % cm.|Largeur de coupe : % cm.",
			"32", "37", "42", "46", "51"),
		newAttr("fuel", "Fuel: %.|Brennstoff: %.|Combustible : %.",
			"gas|Gas|gaz", "charcoal|Holzkohle|charbon de bois", "electric|Strom|électricité"),
	}
	m := make(map[string]*attrSpec, len(list))
	for _, a := range list {
		m[a.name] = a
	}
	return m
}

func (t *treeBuilder) electronics() {
	tech := &productLine{
		brands: strings.Split("Sonora,Voltix,Arcwave,Kairo,Pixelon,Auralis,Zentra,Brightcore,Ionix,Novalink", ","),
		models: strings.Fields("Studio Pro Air Max Nova Pulse Edge One Lite Ultra Flex Prime Zen Orbit Vibe"),
		gens:   []string{"", "", "", "", "2", "3", "5", "X", "S", "Plus", "Mini"},
	}
	t.cat("electronics", "Electronics|Elektronik|Électronique")
	t.cat("electronics/audio", "Audio & Hi-Fi|Audio & HiFi|Audio et hi-fi")
	t.leaf("electronics/audio/headphones", "Headphones|Kopfhörer|Casques", leafSpec{productLine: tech, lo: 20, hi: 400,
		nouns: nounForms("Headphones|Kopfhörer:p|Casque:m"),
		adjs: adjectives("Wireless|kabellos|sans fil|connectivity=Bluetooth", "Over-Ear|Over-Ear-|circum-auriculaire",
			"Noise-Cancelling|Noise-Cancelling-|à réduction de bruit", "Foldable|faltbar|pliable"),
		attrs: t.of("color:black,white,silver,gray,blue,beige", "connectivity:Bluetooth,2.4 GHz wireless", "battery_hours:20,30,40,60"),
		uses: phrases("commuting and travel|den Arbeitsweg und lange Reisen|les trajets quotidiens et les voyages",
			"focused work and music at home|konzentriertes Arbeiten und Musik zu Hause|le travail concentré et la musique à la maison",
			"gaming and video calls|Gaming und Videoanrufe|le jeu vidéo et les appels vidéo"),
	})
	t.leaf("electronics/audio/earbuds", "Earbuds|In-Ear-Kopfhörer|Écouteurs", leafSpec{productLine: tech, lo: 15, hi: 300,
		nouns: nounForms("Earbuds|In-Ear-Kopfhörer:p|Écouteurs:mp"),
		adjs: adjectives("Wireless|kabellos|sans fil", "Waterproof|wasserdicht|étanche",
			"Noise-Cancelling|Noise-Cancelling-|à réduction de bruit", "Compact|kompakt|compact/compacte"),
		attrs: t.of("color:black,white,blue,pink,green", "battery_hours:8,12,20,30"),
		uses: phrases("running and the gym|Joggen und das Fitnessstudio|la course à pied et la salle de sport",
			"the daily commute|den täglichen Arbeitsweg|les trajets quotidiens"),
	})
	t.leaf("electronics/audio/speakers", "Speakers|Lautsprecher|Enceintes", leafSpec{productLine: tech, lo: 25, hi: 600,
		nouns: nounForms("Speaker|Lautsprecher:m|Enceinte:f", "Soundbar|Soundbar:f|Barre de son:f"),
		adjs: adjectives("Bluetooth|Bluetooth-|Bluetooth|connectivity=Bluetooth", "Portable|tragbar|portable",
			"Waterproof|wasserdicht|étanche", "Smart|smart|connecté/connectée|connectivity=Wi-Fi"),
		attrs: t.of("color:black,white,gray,blue,red,green", "connectivity:Bluetooth,Wi-Fi", "battery_hours:8,12,20,30"),
		uses: phrases("parties and outdoor adventures|Partys und Abenteuer im Freien|les soirées et les aventures en plein air",
			"rich sound in the living room|satten Klang im Wohnzimmer|un son ample dans le salon"),
	})
	t.cat("electronics/computers", "Computers|Computer|Informatique")
	t.leaf("electronics/computers/laptops", "Laptops|Laptops|Ordinateurs portables", leafSpec{productLine: tech, lo: 400, hi: 3000,
		nouns: nounForms("Laptop|Laptop:m|Ordinateur portable:m"),
		adjs: adjectives("Ultrathin|ultradünn|ultrafin/ultrafine", "Gaming|Gaming-|gaming",
			"2-in-1|2-in-1-|2 en 1", "Business|Business-|professionnel/professionnelle"),
		attrs: t.of("ram_gb", "capacity_gb:256,512,1024,2048", "screen_inches:13.3,14,15.6,16", "color:black,silver,gray,blue"),
		uses: phrases("work on the go|mobiles Arbeiten|le travail en déplacement",
			"students and home offices|Studium und Homeoffice|les études et le télétravail",
			"gaming and creative work|Gaming und kreative Projekte|le jeu vidéo et la création"),
	})
	t.leaf("electronics/computers/monitors", "Monitors|Monitore|Écrans", leafSpec{productLine: tech, lo: 100, hi: 1500,
		nouns: nounForms("Monitor|Monitor:m|Écran:m"),
		adjs:  adjectives("Curved|Curved-|incurvé/incurvée", "Gaming|Gaming-|gaming", "Ultrawide|Ultrawide-|ultra-large"),
		attrs: t.of("screen_inches:24,27,32", "resolution:Full HD,QHD,4K,5K", "color:black,white,silver"),
		uses: phrases("long days at the desk|lange Tage am Schreibtisch|les longues journées de bureau",
			"photo and video editing|Foto- und Videobearbeitung|la retouche photo et le montage vidéo"),
	})
	t.leaf("electronics/computers/keyboards", "Keyboards|Tastaturen|Claviers", leafSpec{productLine: tech, lo: 20, hi: 250,
		nouns: nounForms("Keyboard|Tastatur:f|Clavier:m"),
		adjs: adjectives("Mechanical|mechanisch|mécanique", "Wireless|kabellos|sans fil|connectivity=Bluetooth",
			"Ergonomic|ergonomisch|ergonomique", "Compact|kompakt|compact/compacte"),
		attrs: t.of("switch_type", "layout", "connectivity:Bluetooth,wired,2.4 GHz wireless", "color:black,white,gray"),
		uses: phrases("typing all day|ganztägiges Tippen|la frappe toute la journée",
			"programming and gaming|Programmieren und Gaming|la programmation et le jeu vidéo"),
	})
	t.leaf("electronics/computers/mice", "Mice|Mäuse|Souris", leafSpec{productLine: tech, lo: 10, hi: 180,
		nouns: nounForms("Mouse|Maus:f|Souris:f"),
		adjs: adjectives("Wireless|kabellos|sans fil|connectivity=Bluetooth", "Ergonomic|ergonomisch|ergonomique",
			"Gaming|Gaming-|gaming", "Vertical|vertikal|vertical/verticale"),
		attrs: t.of("connectivity:Bluetooth,wired,2.4 GHz wireless", "dpi", "color:black,white,gray,pink"),
		uses:  phrases("the office|das Büro|le bureau", "precise gaming|präzises Gaming|le jeu vidéo de précision"),
	})
	t.leaf("electronics/computers/storage", "Storage|Speichermedien|Stockage", leafSpec{productLine: tech, lo: 8, hi: 400,
		nouns: nounForms("External SSD|externe SSD:f|SSD externe:m", "External Hard Drive|externe Festplatte:f|Disque dur externe:m",
			"USB Flash Drive|USB-Stick:m|Clé USB:f", "microSD Card|microSD-Karte:f|Carte microSD:f"),
		adjs:  adjectives("Rugged|robust|antichoc", "Compact|kompakt|compact/compacte", "Encrypted|verschlüsselt|chiffré/chiffrée"),
		attrs: t.of("capacity_gb", "color:black,silver,gray,blue"),
		uses: phrases("backups and photo libraries|Backups und Fotosammlungen|les sauvegardes et les photothèques",
			"moving large files|das Verschieben großer Dateien|le transfert de gros fichiers"),
	})
	t.cat("electronics/phones", "Phones & Tablets|Smartphones & Tablets|Téléphones et tablettes")
	t.leaf("electronics/phones/smartphones", "Smartphones|Smartphones|Smartphones", leafSpec{productLine: tech, lo: 150, hi: 1600,
		nouns: nounForms("Smartphone|Smartphone:n|Smartphone:m"),
		adjs:  adjectives("5G|5G-|5G", "Dual-SIM|Dual-SIM-|double SIM", "Rugged|Outdoor-|robuste"),
		attrs: t.of("capacity_gb:64,128,256,512,1024", "color:black,white,blue,green,pink", "screen_inches:6.1,6.7"),
		uses:  phrases("everyday life|den Alltag|le quotidien", "mobile photography|mobile Fotografie|la photographie mobile"),
	})
	t.leaf("electronics/phones/tablets", "Tablets|Tablets|Tablettes", leafSpec{productLine: tech, lo: 120, hi: 1400,
		nouns: nounForms("Tablet|Tablet:n|Tablette:f"),
		adjs:  adjectives("Kids|Kinder+|pour enfants", "Lightweight|leicht|léger/légère", "5G|5G-|5G"),
		attrs: t.of("capacity_gb:64,128,256,512", "screen_inches:11,13.3", "color:gray,silver,blue,pink"),
		uses: phrases("streaming and reading|Streaming und Lesen|le streaming et la lecture",
			"drawing and note-taking|Zeichnen und Notizen|le dessin et la prise de notes"),
	})
	t.leaf("electronics/phones/smartwatches", "Smartwatches|Smartwatches|Montres connectées", leafSpec{productLine: tech, lo: 40, hi: 900,
		nouns: nounForms("Smartwatch|Smartwatch:f|Montre connectée:f", "Fitness Tracker|Fitnesstracker:m|Bracelet connecté:m"),
		adjs:  adjectives("GPS|GPS-|GPS", "Rugged|robust|robuste", "Waterproof|wasserdicht|étanche"),
		attrs: t.of("color:black,silver,pink,green,blue", "water_resistance_m:30,50,100", "battery_hours:20,40,60"),
		uses: phrases("training and sleep tracking|Training und Schlaftracking|l'entraînement et le suivi du sommeil",
			"staying connected on the go|Erreichbarkeit unterwegs|rester connecté en déplacement"),
	})
	t.leaf("electronics/phones/cables", "Cables|Kabel|Câbles", leafSpec{productLine: tech, lo: 5, hi: 30,
		nouns: nounForms("USB-C Cable|USB-C-Kabel:n|Câble USB-C:m", "HDMI Cable|HDMI-Kabel:n|Câble HDMI:m",
			"Lightning Cable|Lightning-Kabel:n|Câble Lightning:m"),
		adjs:  adjectives("Braided|geflochten|tressé/tressée", "Fast-Charging|Schnelllade-|de charge rapide"),
		attrs: t.of("length_m:0.5,1,2,3", "color:black,white,gray,blue,red"),
		uses: phrases("charging at home and at work|das Laden zu Hause und im Büro|la recharge à la maison et au bureau",
			"a tidy desk|einen aufgeräumten Schreibtisch|un bureau bien rangé"),
	})
	t.leaf("electronics/phones/chargers", "Chargers|Ladegeräte|Chargeurs", leafSpec{productLine: tech, lo: 10, hi: 90,
		nouns: nounForms("Charger|Ladegerät:n|Chargeur:m", "Power Bank|Powerbank:f|Batterie externe:f",
			"Charging Stand|Ladestation:f|Station de charge:f"),
		adjs: adjectives("Wireless|kabellos|sans fil", "GaN|GaN-|GaN", "Compact|kompakt|compact/compacte",
			"Magnetic|magnetisch|magnétique"),
		attrs: t.of("power_w:20,30,65,100", "color:black,white"),
		uses: phrases("travel|Reisen|les voyages",
			"charging several devices at once|das gleichzeitige Laden mehrerer Geräte|la recharge de plusieurs appareils à la fois"),
	})
	t.cat("electronics/tv-video", "TV & Video|TV & Video|TV et vidéo")
	t.leaf("electronics/tv-video/televisions", "Televisions|Fernseher|Téléviseurs", leafSpec{productLine: tech, lo: 250, hi: 3500,
		nouns: nounForms("TV|Fernseher:m|Téléviseur:m"),
		adjs:  adjectives("Smart|Smart-|connecté/connectée", "OLED|OLED-|OLED", "QLED|QLED-|QLED"),
		attrs: t.of("screen_inches:43,55,65,75", "resolution:Full HD,4K,8K", "color:black,silver"),
		uses:  phrases("movie nights|Filmabende|les soirées cinéma", "sports and gaming|Sport und Gaming|le sport et le jeu vidéo"),
	})
	t.leaf("electronics/tv-video/cameras", "Cameras|Kameras|Appareils photo", leafSpec{productLine: tech, lo: 150, hi: 3500,
		nouns: nounForms("Mirrorless Camera|spiegellose Kamera:f|Appareil photo hybride:m",
			"Action Camera|Actionkamera:f|Caméra sportive:f", "Compact Camera|Kompaktkamera:f|Appareil photo compact:m"),
		adjs:  adjectives("Rugged|robust|robuste", "Waterproof|wasserdicht|étanche", "Lightweight|leicht|léger/légère"),
		attrs: t.of("megapixels", "sensor_format", "color:black,silver"),
		uses: phrases("travel and street photography|Reise- und Straßenfotografie|la photo de voyage et de rue",
			"video and vlogging|Video und Vlogging|la vidéo et le vlogging"),
	})
}

func (t *treeBuilder) home() {
	home := &productLine{
		brands: strings.Split("Lumen,Hearthwood,Casa Verde,Nordhaus,Copperleaf,Maison Blanc,Oakridge,Tavola", ","),
		models: strings.Fields("Classic Atelier Nordic Essential Heritage Loft Pure Terra Bistro Provence"),
		gens:   []string{"", "", "", "", "II", "Plus"},
	}
	t.cat("home-kitchen", "Home & Kitchen|Haus & Küche|Maison et cuisine")
	t.cat("home-kitchen/kitchen", "Kitchen|Küche|Cuisine")
	t.leaf("home-kitchen/kitchen/cookware", "Cookware|Kochgeschirr|Ustensiles de cuisson", leafSpec{productLine: home, lo: 15, hi: 300,
		nouns: nounForms("Frying Pan|Bratpfanne:f|Poêle:f", "Saucepan|Kochtopf:m|Casserole:f", "Wok|Wok:m|Wok:m",
			"Dutch Oven|Schmortopf:m|Cocotte:f"),
		adjs: adjectives("Non-Stick|Antihaft-|antiadhésif/antiadhésive", "Cast Iron|Gusseisen-|en fonte|material=cast iron",
			"Induction-Ready|induktionsgeeignet|compatible induction", "Stainless Steel|Edelstahl-|en inox|material=stainless steel"),
		attrs: t.of("material:stainless steel,cast iron,aluminum,ceramic", "diameter_cm", "color:black,red,gray,blue,green"),
		uses: phrases("everyday cooking|das tägliche Kochen|la cuisine de tous les jours",
			"searing, braising and slow cooking|scharfes Anbraten, Schmoren und langsames Garen|saisir, braiser et mijoter"),
	})
	t.leaf("home-kitchen/kitchen/knives", "Knives|Messer|Couteaux", leafSpec{productLine: home, lo: 12, hi: 250,
		nouns: nounForms("Chef's Knife|Kochmesser:n|Couteau de chef:m", "Santoku Knife|Santokumesser:n|Couteau santoku:m",
			"Bread Knife|Brotmesser:n|Couteau à pain:m", "Paring Knife|Schälmesser:n|Couteau d'office:m"),
		adjs: adjectives("Ceramic|Keramik-|en céramique|material=ceramic", "Forged|geschmiedet|forgé/forgée|material=stainless steel",
			"Japanese|japanisch|japonais/japonaise", "Damascus|Damast-|damassé/damassée|material=stainless steel"),
		attrs: t.of("material:stainless steel,ceramic", "blade_cm", "color:black,white,red,gray"),
		uses: phrases("precise everyday prep work|präzises Schneiden im Alltag|la préparation quotidienne",
			"home cooks and professionals|Hobbyköche und Profis|les cuisiniers amateurs et professionnels"),
	})
	t.leaf("home-kitchen/kitchen/small-appliances", "Small Appliances|Küchenkleingeräte|Petit électroménager",
		leafSpec{productLine: home, lo: 20, hi: 250,
			nouns: nounForms("Kettle|Wasserkocher:m|Bouilloire:f", "Toaster|Toaster:m|Grille-pain:m",
				"Blender|Standmixer:m|Blender:m", "Hand Mixer|Handmixer:m|Batteur électrique:m"),
			adjs: adjectives("Retro|Retro-|rétro/rétro/rétro/rétro", "Digital|digital|numérique",
				"Compact|kompakt|compact/compacte", "Stainless Steel|Edelstahl-|en inox"),
			attrs: t.of("power_w:600,800,1000,1200,1500,2000,2200", "color:black,white,red,silver,beige,green"),
			uses:  phrases("busy mornings|hektische Morgen|les matins pressés", "small kitchens|kleine Küchen|les petites cuisines"),
		})
	t.leaf("home-kitchen/kitchen/coffee", "Coffee & Tea|Kaffee & Tee|Café et thé", leafSpec{productLine: home, lo: 25, hi: 1200,
		nouns: nounForms("Espresso Machine|Espressomaschine:f|Machine à expresso:f", "Coffee Grinder|Kaffeemühle:f|Moulin à café:m",
			"Filter Coffee Maker|Filterkaffeemaschine:f|Cafetière filtre:f", "Milk Frother|Milchaufschäumer:m|Mousseur à lait:m"),
		adjs: adjectives("Automatic|automatisch|automatique", "Compact|kompakt|compact/compacte",
			"Electric|elektrisch|électrique", "Programmable|programmierbar|programmable"),
		attrs: t.of("power_w:600,1000,1200,1500", "color:black,silver,white,red"),
		uses: phrases("your morning coffee|den Morgenkaffee|le café du matin",
			"café-style drinks at home|Kaffeespezialitäten zu Hause|des boissons comme au café, à la maison"),
	})
	t.cat("home-kitchen/furniture", "Furniture|Möbel|Meubles")
	t.leaf("home-kitchen/furniture/chairs", "Chairs|Stühle|Chaises", leafSpec{productLine: home, lo: 50, hi: 900,
		nouns: nounForms("Office Chair|Bürostuhl:m|Chaise de bureau:f", "Dining Chair|Esszimmerstuhl:m|Chaise de salle à manger:f",
			"Armchair|Sessel:m|Fauteuil:m"),
		adjs: adjectives("Ergonomic|ergonomisch|ergonomique", "Upholstered|gepolstert|rembourré/rembourrée",
			"Scandinavian|skandinavisch|scandinave", "Swivel|drehbar|pivotant/pivotante"),
		attrs: t.of("color:black,gray,beige,blue,green", "material:oak,leather,polyester,linen"),
		uses: phrases("the home office|das Homeoffice|le télétravail",
			"long dinners with friends|lange Abendessen mit Freunden|les longs dîners entre amis",
			"a reading corner|die Leseecke|un coin lecture"),
	})
	t.leaf("home-kitchen/furniture/desks", "Desks|Schreibtische|Bureaux", leafSpec{productLine: home, lo: 80, hi: 1200,
		nouns: nounForms("Desk|Schreibtisch:m|Bureau:m", "Corner Desk|Eckschreibtisch:m|Bureau d'angle:m"),
		adjs: adjectives("Height-Adjustable|höhenverstellbar|réglable en hauteur", "Minimalist|minimalistisch|minimaliste",
			"Solid Wood|Massivholz-|en bois massif|material=oak"),
		attrs: t.of("material:oak,bamboo,glass", "color:white,black,beige,gray", "width_cm:100,120,140,160,180"),
		uses:  phrases("the home office|das Homeoffice|le télétravail", "students|Schüler und Studierende|les élèves et les étudiants"),
	})
	t.leaf("home-kitchen/furniture/shelves", "Shelving|Regale|Étagères", leafSpec{productLine: home, lo: 25, hi: 600,
		nouns: nounForms("Bookshelf|Bücherregal:n|Bibliothèque:f", "Wall Shelf|Wandregal:n|Étagère murale:f",
			"Shelving Unit|Standregal:n|Étagère:f"),
		adjs: adjectives("Modular|modular|modulable", "Floating|schwebend|flottant/flottante",
			"Solid Wood|Massivholz-|en bois massif|material=oak"),
		attrs: t.of("material:oak,bamboo,glass,stainless steel", "color:white,black,beige", "width_cm:60,80,100,120"),
		uses: phrases("books and records|Bücher und Schallplatten|les livres et les vinyles",
			"small apartments|kleine Wohnungen|les petits appartements"),
	})
	t.cat("home-kitchen/textiles", "Home Textiles|Heimtextilien|Linge de maison")
	t.leaf("home-kitchen/textiles/bedding", "Bedding|Bettwäsche|Linge de lit", leafSpec{productLine: home, lo: 20, hi: 250,
		nouns: nounForms("Duvet Cover Set|Bettwäsche-Set:n|Parure de lit:f", "Fitted Sheet|Spannbettlaken:n|Drap-housse:m",
			"Duvet|Bettdecke:f|Couette:f"),
		adjs: adjectives("Organic Cotton|Bio-Baumwoll-|en coton bio|material=cotton", "Washed Linen|Leinen-|en lin lavé|material=linen",
			"Breathable|atmungsaktiv|respirant/respirante", "Striped|gestreift|rayé/rayée"),
		attrs: t.of("material:cotton,linen,polyester", "color:white,gray,beige,blue,green,pink",
			"dimensions_cm:90x200,140x200,160x200,200x220"),
		uses: phrases("restful nights|erholsame Nächte|des nuits reposantes", "warm summer nights|warme Sommernächte|les chaudes nuits d'été"),
	})
	t.leaf("home-kitchen/textiles/rugs", "Rugs|Teppiche|Tapis", leafSpec{productLine: home, lo: 30, hi: 900,
		nouns: nounForms("Rug|Teppich:m|Tapis:m", "Runner|Läufer:m|Tapis de couloir:m"),
		adjs: adjectives("Handwoven|handgewebt|tissé main", "Washable|waschbar|lavable",
			"Shaggy|Hochflor-|à poils longs", "Vintage|Vintage-|vintage"),
		attrs: t.of("material:wool,cotton,polyester", "color:beige,gray,blue,red,green,navy",
			"dimensions_cm:60x90,80x150,120x170,160x230,200x300"),
		uses: phrases("the living room|das Wohnzimmer|le salon", "hallways and bedrooms|Flur und Schlafzimmer|l'entrée et la chambre"),
	})
	t.leaf("home-kitchen/lighting", "Lighting|Beleuchtung|Luminaires", leafSpec{productLine: home, lo: 20, hi: 600,
		nouns: nounForms("Floor Lamp|Stehlampe:f|Lampadaire:m", "Desk Lamp|Schreibtischlampe:f|Lampe de bureau:f",
			"Pendant Light|Pendelleuchte:f|Suspension:f"),
		adjs:  adjectives("Dimmable|dimmbar|à intensité variable", "LED|LED-|LED", "Rattan|Rattan-|en rotin"),
		attrs: t.of("color:black,white,gold,beige,green", "material:glass,aluminum,oak,linen", "color_temp_k"),
		uses:  phrases("cozy evenings|gemütliche Abende|des soirées douillettes", "reading and working|Lesen und Arbeiten|la lecture et le travail"),
	})
}

func (t *treeBuilder) sports() {
	sport := &productLine{
		brands: strings.Split("Trailforge,Peakline,Altura,Stridex,Northfell,Summitra,Velocita,Bergmann", ","),
		models: strings.Fields("Trail Summit Ridge Apex Sprint Alpine Venture Core Tempo Glacier"),
		gens:   []string{"", "", "", "2", "3", "Pro", "Lite"},
	}
	t.cat("sports-outdoors", "Sports & Outdoors|Sport & Outdoor|Sports et plein air")
	t.cat("sports-outdoors/camping", "Camping & Hiking|Camping & Wandern|Camping et randonnée")
	t.leaf("sports-outdoors/camping/tents", "Tents|Zelte|Tentes", leafSpec{productLine: sport, lo: 40, hi: 800,
		nouns: nounForms("Tent|Zelt:n|Tente:f"),
		adjs: adjectives("Ultralight|ultraleicht|ultraléger/ultralégère", "Pop-Up|Pop-up-|pop-up", "Family|Familien+|familial/familiale",
			"Dome|Kuppel+|dôme/dôme/dômes/dômes", "Waterproof|wasserdicht|imperméable"),
		attrs: t.of("persons", "color:green,olive,orange,gray,blue", "material:nylon,polyester"),
		uses: phrases("weekend camping trips|Campingwochenenden|les week-ends en camping", "festivals|Festivals|les festivals",
			"long-distance trekking|lange Trekkingtouren|les longs treks"),
	})
	t.leaf("sports-outdoors/camping/sleeping-bags", "Sleeping Bags|Schlafsäcke|Sacs de couchage", leafSpec{productLine: sport, lo: 30, hi: 450,
		nouns: nounForms("Sleeping Bag|Schlafsack:m|Sac de couchage:m"),
		adjs: adjectives("Down|Daunen+|en duvet", "Mummy|Mumien+|sarcophage", "Lightweight|leicht|léger/légère",
			"Compact|kompakt|compact/compacte"),
		attrs: t.of("comfort_temp_c", "color:blue,green,orange,red,gray", "material:nylon,polyester"),
		uses: phrases("cold nights outdoors|kalte Nächte im Freien|les nuits froides en plein air",
			"summer camping|Sommercamping|le camping d'été"),
	})
	t.leaf("sports-outdoors/camping/backpacks", "Backpacks|Rucksäcke|Sacs à dos", leafSpec{productLine: sport, lo: 30, hi: 300,
		nouns: nounForms("Hiking Backpack|Wanderrucksack:m|Sac à dos de randonnée:m", "Daypack|Tagesrucksack:m|Sac à dos de jour:m"),
		adjs: adjectives("Lightweight|leicht|léger/légère", "Waterproof|wasserdicht|imperméable",
			"Ventilated|belüftet|ventilé/ventilée"),
		attrs: t.of("capacity_l:20,30,45,65", "color:black,green,blue,orange,red,gray", "material:nylon,polyester"),
		uses:  phrases("day hikes|Tageswanderungen|les randonnées à la journée", "multi-day treks|mehrtägige Touren|les treks de plusieurs jours"),
	})
	t.cat("sports-outdoors/fitness", "Fitness|Fitness|Fitness")
	t.leaf("sports-outdoors/fitness/weights", "Weights|Gewichte|Poids et haltères", leafSpec{productLine: sport, lo: 15, hi: 500,
		nouns: nounForms("Dumbbell Set|Hantelset:n|Set d'haltères:m", "Kettlebell|Kettlebell:f|Kettlebell:m",
			"Weight Plate|Hantelscheibe:f|Disque de musculation:m"),
		adjs: adjectives("Adjustable|verstellbar|réglable", "Cast Iron|Gusseisen-|en fonte|material=cast iron",
			"Rubber-Coated|gummiert|caoutchouté/caoutchoutée"),
		attrs: t.of("weight_kg", "material:cast iron,stainless steel", "color:black,gray,red,blue"),
		uses:  phrases("home workouts|das Training zu Hause|l'entraînement à la maison", "strength training|Krafttraining|la musculation"),
	})
	t.leaf("sports-outdoors/fitness/yoga", "Yoga|Yoga|Yoga", leafSpec{productLine: sport, lo: 12, hi: 150,
		nouns: nounForms("Yoga Mat|Yogamatte:f|Tapis de yoga:m", "Yoga Block|Yogablock:m|Brique de yoga:f",
			"Meditation Cushion|Meditationskissen:n|Coussin de méditation:m"),
		adjs: adjectives("Non-Slip|rutschfest|antidérapant/antidérapante", "Eco-Friendly|umweltfreundlich|écologique",
			"Travel|Reise-|de voyage"),
		attrs: t.of("thickness_mm", "color:blue,green,pink,gray,black,beige,navy"),
		uses: phrases("daily practice|die tägliche Praxis|la pratique quotidienne",
			"Pilates and stretching|Pilates und Dehnübungen|le Pilates et les étirements"),
	})
	t.leaf("sports-outdoors/fitness/cardio", "Cardio Machines|Cardiogeräte|Appareils de cardio", leafSpec{productLine: sport, lo: 150, hi: 2500,
		nouns: nounForms("Treadmill|Laufband:n|Tapis de course:m", "Exercise Bike|Heimtrainer:m|Vélo d'appartement:m",
			"Rowing Machine|Rudergerät:n|Rameur:m", "Cross Trainer|Crosstrainer:m|Vélo elliptique:m"),
		adjs:  adjectives("Foldable|klappbar|pliable", "Smart|smart|connecté/connectée", "Compact|kompakt|compact/compacte"),
		attrs: t.of("max_user_kg", "color:black,gray,silver,white"),
		uses:  phrases("cardio at home|Ausdauertraining zu Hause|le cardio à la maison", "small spaces|kleine Räume|les petits espaces"),
	})
	t.cat("sports-outdoors/cycling", "Cycling|Radsport|Cyclisme")
	t.leaf("sports-outdoors/cycling/bikes", "Bikes|Fahrräder|Vélos", leafSpec{productLine: sport, lo: 350, hi: 4500,
		nouns: nounForms("Road Bike|Rennrad:n|Vélo de route:m", "Mountain Bike|Mountainbike:n|VTT:m", "E-Bike|E-Bike:n|Vélo électrique:m",
			"City Bike|Citybike:n|Vélo de ville:m", "Gravel Bike|Gravelbike:n|Vélo gravel:m"),
		adjs:  adjectives("Carbon|Carbon-|en carbone", "Lightweight|leicht|léger/légère", "Aluminum|Alu-|en aluminium"),
		attrs: t.of("size:S,M,L,XL", "color:black,white,blue,red,green,gray", "wheel_inches"),
		uses: phrases("the daily commute|den täglichen Arbeitsweg|les trajets quotidiens",
			"weekend rides|Ausfahrten am Wochenende|les sorties du week-end",
			"trails and gravel roads|Trails und Schotterwege|les sentiers et les chemins de gravier"),
	})
	t.leaf("sports-outdoors/cycling/helmets", "Helmets|Helme|Casques", leafSpec{productLine: sport, lo: 25, hi: 300,
		nouns: nounForms("Bike Helmet|Fahrradhelm:m|Casque de vélo:m"),
		adjs:  adjectives("Aero|Aero-|aérodynamique", "Lightweight|leicht|léger/légère", "Ventilated|belüftet|ventilé/ventilée"),
		attrs: t.of("size:S,M,L", "color:black,white,red,blue,yellow,gray"),
		uses: phrases("the daily commute|den täglichen Arbeitsweg|les trajets quotidiens",
			"road racing|Straßenrennen|la course sur route"),
	})
	t.leaf("sports-outdoors/running", "Running|Laufen|Course à pied", leafSpec{productLine: sport, lo: 40, hi: 250,
		nouns: nounForms("Running Shoes|Laufschuhe:p|Chaussures de running:fp",
			"Trail Running Shoes|Trailrunning-Schuhe:p|Chaussures de trail:fp"),
		adjs: adjectives("Cushioned|gedämpft|amorti/amortie", "Lightweight|leicht|léger/légère",
			"Waterproof|wasserdicht|imperméable", "Breathable|atmungsaktiv|respirant/respirante"),
		attrs: t.of("shoe_size", "color:black,white,blue,red,orange,yellow,gray"),
		uses:  phrases("daily runs|tägliche Läufe|les sorties quotidiennes", "marathon training|das Marathontraining|la préparation au marathon"),
	})
}

func (t *treeBuilder) fashion() {
	wear := &productLine{
		brands: strings.Split("Atelier Nove,Marlowe,Bellamy & Co,Linnea,Fjordline,Rue Lafitte,Cobalt & Pine,Havana Row", ","),
		models: strings.Fields("Riviera Oslo Milano Sienna Harbor Camden Lyon Soho Capri Aspen"),
	}
	clothes := func(path, names string, lo, hi int64, nouns, adjs []string, attrs []*attrSpec, uses ...string) {
		t.leaf(path, names, leafSpec{productLine: wear, lo: lo, hi: hi, nouns: nounForms(nouns...), adjs: adjectives(adjs...),
			attrs: attrs, uses: phrases(uses...)})
	}
	t.cat("fashion", "Fashion|Mode|Mode")
	t.cat("fashion/women", "Women|Damen|Femme")
	clothes("fashion/women/dresses", "Dresses|Kleider|Robes", 25, 250,
		[]string{"Dress|Kleid:n|Robe:f"},
		[]string{"Maxi|Maxi+|long/longue", "Summer|Sommer+|d'été", "Wrap|Wickel+|portefeuille", "Linen|Leinen+|en lin|material=linen"},
		t.of("size:XS,S,M,L,XL", "color:black,white,navy,red,green,beige,pink,yellow", "material:cotton,linen,polyester"),
		"summer days|Sommertage|les journées d'été", "the office|das Büro|le bureau",
		"weddings and special occasions|Hochzeiten und besondere Anlässe|les mariages et les grandes occasions")
	clothes("fashion/women/tops", "Tops & Blouses|Tops & Blusen|Hauts et chemisiers", 15, 180,
		[]string{"Blouse|Bluse:f|Chemisier:m", "T-Shirt|T-Shirt:n|T-shirt:m", "Sweater|Pullover:m|Pull:m", "Cardigan|Strickjacke:f|Cardigan:m"},
		[]string{"Oversized|Oversize-|oversize/oversize/oversize/oversize", "Striped|gestreift|rayé/rayée",
			"Wool|Woll-|en laine|material=wool", "Organic Cotton|Bio-Baumwoll-|en coton bio|material=cotton"},
		t.of("size:XS,S,M,L,XL", "color:black,white,navy,red,beige,pink,green", "material:cotton,linen,wool,polyester"),
		"everyday wear|jeden Tag|tous les jours", "layering in autumn|den Lagenlook im Herbst|les superpositions d'automne")
	clothes("fashion/women/shoes", "Shoes|Schuhe|Chaussures", 30, 300,
		[]string{"Sneakers|Sneaker:p|Baskets:fp", "Ankle Boots|Stiefeletten:p|Bottines:fp", "Ballet Flats|Ballerinas:p|Ballerines:fp"},
		[]string{"Leather|Leder+|en cuir|material=leather", "Classic|klassisch|classique", "Comfortable|bequem|confortable"},
		t.of("shoe_size:36,37,38,39,40,41,42", "color:black,white,beige,brown,navy,red", "material:leather,canvas"),
		"city walks|Stadtbummel|les balades en ville", "the office|das Büro|le bureau")
	t.cat("fashion/men", "Men|Herren|Homme")
	clothes("fashion/men/shirts", "Shirts|Hemden|Chemises", 15, 150,
		[]string{"Shirt|Hemd:n|Chemise:f", "Polo Shirt|Poloshirt:n|Polo:m", "T-Shirt|T-Shirt:n|T-shirt:m"},
		[]string{"Linen|Leinen-|en lin|material=linen", "Oxford|Oxford-|Oxford", "Striped|gestreift|rayé/rayée",
			"Short-Sleeved|kurzärmelig|à manches courtes"},
		t.of("size:S,M,L,XL,XXL", "color:white,navy,blue,black,gray,green", "material:cotton,linen", "fit"),
		"the office|das Büro|le bureau", "weekends|das Wochenende|le week-end")
	clothes("fashion/men/jeans", "Jeans|Jeans|Jeans", 30, 200,
		[]string{"Jeans|Jeans:p|Jean:m"},
		[]string{"Stretch|Stretch-|stretch/stretch/stretch/stretch", "Slim-Fit|Slim-Fit-|slim/slim/slim/slim|fit=slim",
			"Straight-Leg|Straight-Leg-|droit/droite|fit=regular", "Selvedge|Selvedge-|selvedge/selvedge/selvedge/selvedge"},
		t.of("size:S,M,L,XL,XXL", "color:blue,black,gray,navy", "fit"),
		"everyday wear|jeden Tag|tous les jours", "weekends|das Wochenende|le week-end")
	clothes("fashion/men/jackets", "Jackets|Jacken|Vestes", 40, 450,
		[]string{"Jacket|Jacke:f|Veste:f", "Rain Jacket|Regenjacke:f|Veste de pluie:f", "Parka|Parka:m|Parka:f",
			"Down Jacket|Daunenjacke:f|Doudoune:f"},
		[]string{"Waterproof|wasserdicht|imperméable", "Quilted|gesteppt|matelassé/matelassée", "Lightweight|leicht|léger/légère"},
		t.of("size:S,M,L,XL,XXL", "color:black,navy,olive,beige,gray,brown", "material:nylon,polyester,wool,cotton,leather"),
		"rainy autumn days|regnerische Herbsttage|les journées d'automne pluvieuses", "cold winters|kalte Winter|les hivers froids",
		"city life|das Stadtleben|la vie urbaine")
	clothes("fashion/men/shoes", "Shoes|Schuhe|Chaussures", 40, 350,
		[]string{"Sneakers|Sneaker:p|Baskets:fp", "Derby Shoes|Schnürschuhe:p|Derbies:mp", "Chelsea Boots|Chelsea-Boots:p|Bottines Chelsea:fp"},
		[]string{"Leather|Leder-|en cuir|material=leather", "Classic|klassisch|classique", "Waterproof|wasserdicht|imperméable"},
		t.of("shoe_size:40,41,42,43,44,45,46", "color:black,brown,white,navy,gray", "material:leather,canvas"),
		"the office|das Büro|le bureau", "weekends|das Wochenende|le week-end")
	t.cat("fashion/accessories", "Accessories|Accessoires|Accessoires")
	clothes("fashion/accessories/watches", "Watches|Uhren|Montres", 40, 2500,
		[]string{"Watch|Armbanduhr:f|Montre:f", "Chronograph|Chronograph:m|Chronographe:m", "Diver's Watch|Taucheruhr:f|Montre de plongée:f"},
		[]string{"Automatic|automatisch|automatique", "Minimalist|minimalistisch|minimaliste", "Solar|Solar-|solaire",
			"Classic|klassisch|classique"},
		t.of("water_resistance_m", "color:black,silver,gold,blue,brown", "material:stainless steel,leather"),
		"everyday elegance|alltägliche Eleganz|l'élégance au quotidien", "diving and sailing|Tauchen und Segeln|la plongée et la voile")
	clothes("fashion/accessories/bags", "Bags|Taschen|Sacs", 25, 600,
		[]string{"Shoulder Bag|Umhängetasche:f|Sac bandoulière:m", "Tote Bag|Shopper:m|Cabas:m", "Backpack|Rucksack:m|Sac à dos:m",
			"Weekender|Reisetasche:f|Sac de voyage:m"},
		[]string{"Leather|Leder+|en cuir|material=leather", "Canvas|Canvas-|en toile|material=canvas", "Vegan|vegan|végan/végane"},
		t.of("color:black,brown,beige,navy,olive,red", "material:leather,canvas,nylon", "capacity_l:10,15,20,30"),
		"work and travel|Arbeit und Reisen|le travail et les voyages", "weekend getaways|Wochenendtrips|les escapades du week-end")
	clothes("fashion/accessories/sunglasses", "Sunglasses|Sonnenbrillen|Lunettes de soleil", 20, 350,
		[]string{"Sunglasses|Sonnenbrille:f|Lunettes de soleil:fp"},
		[]string{"Polarized|polarisiert|polarisé/polarisée", "Aviator|Piloten+|aviateur/aviateur/aviateur/aviateur",
			"Round|rund|rond/ronde", "Sport|Sport-|de sport"},
		t.of("color:black,gold,silver,brown,blue", "lens_color"),
		"sunny days|sonnige Tage|les journées ensoleillées", "driving|das Autofahren|la conduite")
}

func (t *treeBuilder) books() {
	press := &productLine{brands: strings.Split(
		"Ashgrove Press,Northlight Books,Kestrel House,Bluequill,Marlow & Finch,Lanternfield,Half Moon Editions,Old Quay Press", ",")}
	studio := &productLine{brands: strings.Split(
		"Silverline Pictures,Brightfall Films,Meridian Studios,Northwind Pictures,Harbor Lights Films", ",")}
	nouns := nounForms("Harbor|Hafen:m|port:m", "City|Stadt:f|ville:f", "House|Haus:n|maison:f", "Garden|Garten:m|jardin:m",
		"River|Fluss:m|rivière:f", "Winter|Winter:m|hiver:m", "Island|Insel:f|île:f", "Forest|Wald:m|forêt:f",
		"Night|Nacht:f|nuit:f", "Letter|Brief:m|lettre:f", "Mountain|Berg:m|montagne:f", "Summer|Sommer:m|été:m")
	adjs := adjectives("Silent|still|silencieux/silencieuse", "Forgotten|vergessen|oublié/oubliée", "Lost|verloren|perdu/perdue",
		"Secret|geheim|secret/secrète", "Dark|dunkl|sombre", "Distant|fern|lointain/lointaine", "Frozen|gefroren|gelé/gelée",
		"Golden|golden|doré/dorée", "Hidden|verborgen|caché/cachée", "Eternal|ewig|éternel/éternelle", "Last|letzt|<dernier/dernière")
	t.cat("books-media", "Books & Media|Bücher & Medien|Livres et médias")
	t.cat("books-media/books", "Books|Bücher|Livres")
	t.leaf("books-media/books/fiction", "Fiction|Belletristik|Romans", leafSpec{productLine: press, kind: kindBook, lo: 9, hi: 35,
		nouns: nouns, adjs: adjs, suffix: parsePhrase(": A Novel|: Roman| : roman"),
		attrs: t.of("format:hardcover,paperback", "language", "genre:literary fiction,romance,historical fiction,fantasy,science fiction",
			"pages:256,320,384,448,512"),
		uses: phrases("a moving story of love, loss and second chances|eine bewegende Geschichte über Liebe, Verlust und zweite Chancen|une histoire émouvante d'amour, de perte et de secondes chances",
			"a sweeping family saga across three generations|eine große Familiensaga über drei Generationen|une grande saga familiale sur trois générations",
			"an unforgettable journey to the edge of the known world|eine unvergessliche Reise an den Rand der bekannten Welt|un voyage inoubliable aux confins du monde connu"),
	})
	t.leaf("books-media/books/crime", "Crime & Thrillers|Krimis & Thriller|Policiers et thrillers", leafSpec{productLine: press, kind: kindBook, lo: 9, hi: 30,
		nouns: nouns, adjs: adjs, suffix: parsePhrase(": A Crime Novel|: Kriminalroman| : roman policier"),
		attrs: t.of("format:hardcover,paperback", "language", "genre:thriller,mystery", "pages:256,320,384,448"),
		uses: phrases("a gripping case that keeps you guessing until the last page|ein packender Fall, der bis zur letzten Seite fesselt|une enquête haletante jusqu'à la dernière page",
			"a detective with nothing left to lose|eine Ermittlerin, die nichts mehr zu verlieren hat|une enquêtrice qui n'a plus rien à perdre"),
	})
	t.leaf("books-media/books/cookbooks", "Cookbooks|Kochbücher|Livres de cuisine", leafSpec{productLine: press, kind: kindBook, lo: 15, hi: 45,
		nouns: nounForms("Kitchen|Küche:f|cuisine:f", "Table|Tafel:f|table:f", "Harvest|Ernte:f|récolte:f", "Garden|Garten:m|jardin:m",
			"Bakery|Backstube:f|fournil:m", "Pantry|Vorratskammer:f|garde-manger:m"),
		adjs: adjectives("Simple|einfach|simple", "Green|grün|vert/verte", "Rustic|rustikal|rustique",
			"Mediterranean|mediterran|méditerranéen/méditerranéenne", "Little|klein|<petit/petite", "Modern|modern|moderne"),
		suffix: parsePhrase(": The Cookbook|: Das Kochbuch| : le livre de cuisine"),
		attrs:  t.of("format:hardcover,paperback", "language", "cuisine"),
		uses: phrases("over 100 recipes for every season|über 100 Rezepte für jede Jahreszeit|plus de 100 recettes pour toutes les saisons",
			"simple, honest food for busy weeknights|einfaches, ehrliches Essen für volle Wochentage|une cuisine simple et sincère pour les soirs de semaine chargés"),
	})
	t.leaf("books-media/books/children", "Children's Books|Kinderbücher|Livres pour enfants", leafSpec{productLine: press, kind: kindBook, lo: 8, hi: 25,
		nouns: nounForms("Fox|Fuchs:m|renard:m", "Bear|Bär:m|ours:m", "Owl|Eule:f|chouette:f", "Dragon|Drache:m|dragon:m",
			"Moon|Mond:m|lune:f", "Elephant|Elefant:m|éléphant:m", "Rabbit|Kaninchen:n|lapin:m"),
		adjs: adjectives("Little|klein|<petit/petite", "Brave|mutig|courageux/courageuse", "Sleepy|müd|endormi/endormie",
			"Curious|neugierig|curieux/curieuse", "Happy|fröhlich|joyeux/joyeuse"),
		suffix: parsePhrase(": A Picture Book|: Ein Bilderbuch| : un album illustré"),
		attrs:  t.of("format:hardcover,board book", "language", "age:0-2,3-5,6-8", "pages:32,48"),
		uses: phrases("a bedtime story about friendship and courage|eine Gutenachtgeschichte über Freundschaft und Mut|une histoire du soir sur l'amitié et le courage",
			"a gentle tale about finding your way home|eine sanfte Geschichte über den Weg nach Hause|un doux conte sur le chemin du retour"),
	})
	t.leaf("books-media/films", "Films|Filme|Films", leafSpec{productLine: studio, kind: kindFilm, lo: 8, hi: 40,
		nouns: nouns, adjs: adjs,
		attrs: t.of("format:Blu-ray,DVD,4K Ultra HD", "genre:drama,comedy,thriller,animation,documentary,science fiction", "language"),
		uses: phrases("a story the whole family will remember|eine Geschichte, an die sich die ganze Familie erinnern wird|une histoire dont toute la famille se souviendra",
			"a visually stunning journey|eine visuell überwältigende Reise|un voyage visuellement époustouflant",
			"a tense tale of trust and betrayal|eine spannende Geschichte über Vertrauen und Verrat|une histoire tendue de confiance et de trahison"),
	})
}

func (t *treeBuilder) toys() {
	toy := &productLine{
		brands: strings.Split("Brickwell,Tinytrek,Happy Otter,Puzzlewood,Kiddo Labs,Starling Toys,Woodpecker,Playmaze", ","),
		models: strings.Fields("Junior Explorer Rocket Galaxy Safari Castle Pirate Jungle Ocean Dino"),
	}
	t.cat("toys-games", "Toys & Games|Spielzeug & Spiele|Jouets et jeux")
	t.leaf("toys-games/building-sets", "Building Sets|Konstruktionsspielzeug|Jeux de construction", leafSpec{productLine: toy, lo: 10, hi: 250,
		nouns: nounForms("Building Set|Bauset:n|Jeu de construction:m", "Marble Run|Murmelbahn:f|Circuit à billes:m",
			"Building Blocks|Bausteine:p|Blocs de construction:mp"),
		adjs:  adjectives("Creative|kreativ|créatif/créative", "Magnetic|magnetisch|magnétique", "Wooden|Holz+|en bois"),
		attrs: t.of("pieces:100,250,500,750,1000,1500", "age:3-5,6-8,9-12,12+"),
		uses:  phrases("creative play|kreatives Spielen|le jeu créatif", "rainy afternoons|verregnete Nachmittage|les après-midi pluvieux"),
	})
	t.leaf("toys-games/board-games", "Board Games|Brettspiele|Jeux de société", leafSpec{productLine: toy, lo: 10, hi: 90,
		nouns: nounForms("Board Game|Brettspiel:n|Jeu de société:m", "Card Game|Kartenspiel:n|Jeu de cartes:m",
			"Strategy Game|Strategiespiel:n|Jeu de stratégie:m"),
		adjs:  adjectives("Cooperative|kooperativ|coopératif/coopérative", "Family|Familien+|familial/familiale", "Classic|klassisch|classique"),
		attrs: t.of("players", "age:6-8,9-12,12+", "language:English,German,French"),
		uses: phrases("game nights with friends|Spieleabende mit Freunden|les soirées jeux entre amis",
			"the whole family|die ganze Familie|toute la famille"),
	})
	t.leaf("toys-games/puzzles", "Puzzles|Puzzles|Puzzles", leafSpec{productLine: toy, lo: 8, hi: 60,
		nouns: nounForms("Jigsaw Puzzle|Puzzle:n|Puzzle:m", "3D Puzzle|3D-Puzzle:n|Puzzle 3D:m"),
		adjs:  adjectives("Panoramic|Panorama-|panoramique", "Wooden|Holz-|en bois", "Challenging|anspruchsvoll|difficile"),
		attrs: t.of("pieces:100,500,1000,1500,2000,3000", "age:6-8,9-12,12+"),
		uses:  phrases("quiet evenings|ruhige Abende|les soirées tranquilles", "puzzle lovers|Puzzlefans|les passionnés de puzzles"),
	})
	t.leaf("toys-games/soft-toys", "Soft Toys|Plüschtiere|Peluches", leafSpec{productLine: toy, lo: 8, hi: 80,
		nouns: nounForms("Teddy Bear|Teddybär:m|Ours en peluche:m", "Plush Bunny|Plüschhase:m|Lapin en peluche:m",
			"Plush Dragon|Plüschdrache:m|Dragon en peluche:m", "Plush Unicorn|Plüscheinhorn:n|Licorne en peluche:f"),
		adjs:  adjectives("Cuddly|kuschelig|câlin/câline", "Giant|Riesen+|géant/géante", "Washable|waschbar|lavable"),
		attrs: t.of("color:brown,beige,white,pink,blue,gray", "age:0-2,3-5", "material:cotton,polyester"),
		uses: phrases("bedtime cuddles|Kuscheln vor dem Schlafengehen|les câlins du soir",
			"little explorers|kleine Entdecker|les petits explorateurs"),
	})
	t.leaf("toys-games/remote-control", "Remote Control|Ferngesteuertes Spielzeug|Jouets télécommandés", leafSpec{productLine: toy, lo: 20, hi: 400,
		nouns: nounForms("RC Car|RC-Auto:n|Voiture télécommandée:f", "Drone|Drohne:f|Drone:m", "RC Boat|RC-Boot:n|Bateau télécommandé:m"),
		adjs:  adjectives("Beginner|Einsteiger-|pour débutants", "Fast|schnell|rapide", "Rechargeable|aufladbar|rechargeable"),
		attrs: t.of("color:red,blue,black,yellow,green,orange", "age:6-8,9-12,12+"),
		uses:  phrases("backyard races|Rennen im Garten|les courses dans le jardin", "young pilots|junge Piloten|les jeunes pilotes"),
	})
}

func (t *treeBuilder) garden() {
	tool := &productLine{
		brands: strings.Split("Ironclad,Greenmoor,Torqx,Hedgerow,Forgewell,Boltmaster,Fieldcraft,Rosewick", ","),
		models: strings.Fields("Pro Eco Power Garden Turbo Master Evo Titan Spark"),
		gens:   []string{"", "", "", "II", "Plus"},
	}
	t.cat("garden-diy", "Garden & DIY|Garten & Heimwerken|Jardin et bricolage")
	t.leaf("garden-diy/power-tools", "Power Tools|Elektrowerkzeuge|Outillage électrique", leafSpec{productLine: tool, lo: 40, hi: 450,
		nouns: nounForms("Drill Driver|Bohrschrauber:m|Perceuse-visseuse:f", "Impact Driver|Schlagschrauber:m|Visseuse à chocs:f",
			"Angle Grinder|Winkelschleifer:m|Meuleuse d'angle:f", "Jigsaw|Stichsäge:f|Scie sauteuse:f",
			"Circular Saw|Handkreissäge:f|Scie circulaire:f"),
		adjs:  adjectives("Cordless|Akku-|sans fil", "Brushless|bürstenlos|sans balais", "Compact|kompakt|compact/compacte"),
		attrs: t.of("voltage_v", "color:black,yellow,red,green,blue,orange"),
		uses: phrases("home renovation|Renovierungen zu Hause|la rénovation de la maison",
			"demanding building sites|anspruchsvolle Baustellen|les chantiers exigeants"),
	})
	t.cat("garden-diy/garden", "Garden|Garten|Jardin")
	t.leaf("garden-diy/garden/lawn-mowers", "Lawn Mowers|Rasenmäher|Tondeuses", leafSpec{productLine: tool, lo: 60, hi: 2200,
		nouns: nounForms("Lawn Mower|Rasenmäher:m|Tondeuse à gazon:f", "Robotic Mower|Mähroboter:m|Robot tondeuse:m",
			"Grass Trimmer|Rasentrimmer:m|Coupe-bordure:m"),
		adjs: adjectives("Cordless|Akku-|sans fil", "Electric|Elektro-|électrique", "Mulching|Mulch-|mulching",
			"Quiet|leis|silencieux/silencieuse"),
		attrs: t.of("cutting_width_cm", "color:green,orange,red,black,gray"),
		uses:  phrases("small gardens|kleine Gärten|les petits jardins", "large lawns|große Rasenflächen|les grandes pelouses"),
	})
	t.leaf("garden-diy/garden/grills", "Grills|Grills|Barbecues", leafSpec{productLine: tool, lo: 40, hi: 1800,
		nouns: nounForms("Grill|Grill:m|Barbecue:m", "Kettle Grill|Kugelgrill:m|Barbecue boule:m", "Smoker|Smoker:m|Fumoir:m"),
		adjs: adjectives("Gas|Gas-|à gaz|fuel=gas", "Charcoal|Holzkohle-|à charbon|fuel=charcoal",
			"Electric|Elektro-|électrique|fuel=electric", "Portable|tragbar|portable"),
		attrs: t.of("fuel", "color:black,red,silver,green", "material:stainless steel,cast iron"),
		uses: phrases("summer barbecues|sommerliche Grillabende|les barbecues d'été",
			"balconies and small terraces|Balkone und kleine Terrassen|les balcons et les petites terrasses"),
	})
	t.leaf("garden-diy/garden/watering", "Watering|Bewässerung|Arrosage", leafSpec{productLine: tool, lo: 10, hi: 180,
		nouns: nounForms("Garden Hose|Gartenschlauch:m|Tuyau d'arrosage:m", "Hose Reel|Schlauchwagen:m|Dévidoir:m",
			"Sprinkler|Rasensprenger:m|Arroseur:m"),
		adjs:  adjectives("Durable|robust|robuste", "Kink-Free|knickfest|anti-plis", "Automatic|automatisch|automatique"),
		attrs: t.of("length_m:15,20,25,30", "color:green,black,yellow,orange,gray"),
		uses:  phrases("vegetable patches|Gemüsebeete|les potagers", "lawns and flower beds|Rasen und Blumenbeete|les pelouses et les massifs de fleurs"),
	})
}
