package catalog

import (
	"strings"
	"sync"

	"golang.org/x/text/language"
)

// maxPrefs bounds the languages taken from one Accept-Language header.
const maxPrefs = 4

// prefsCache remembers what Accept-Language headers resolve to: a product read parses no
// header twice. Bounded: it starts afresh when full.
type prefsCache struct {
	defaultLocale string
	mu            sync.RWMutex
	m             map[string]prefs
}

// prefs are the locales a caller accepts, best first, ending before the default locale (whose
// text needs no translation); key is their canonical join, part of every cache key.
type prefs struct {
	list []string
	key  string
}

const prefsCacheSize = 1024

func newPrefsCache(defaultLocale string) *prefsCache {
	return &prefsCache{defaultLocale: defaultLocale, m: make(map[string]prefs, 64)}
}

// resolve returns the preferences of an Accept-Language header value.
func (c *prefsCache) resolve(header string) prefs {
	if header == "" {
		return prefs{}
	}
	c.mu.RLock()
	p, ok := c.m[header]
	c.mu.RUnlock()
	if ok {
		return p
	}
	p = parsePrefs(header, c.defaultLocale)
	if len(header) <= 256 {
		c.mu.Lock()
		if len(c.m) >= prefsCacheSize {
			clear(c.m)
		}
		c.m[header] = p
		c.mu.Unlock()
	}
	return p
}

// parsePrefs reads an Accept-Language header: tags by descending q, each canonical, with its
// base language after it ("de-AT" then "de"), stopping at the default language.
func parsePrefs(header, defaultLocale string) prefs {
	if len(header) > 1024 { // cut at a list separator, so that the rest still parses
		header = header[:strings.LastIndexByte(header[:1024], ',')+1]
	}
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil {
		return prefs{}
	}
	defBase := baseOf(defaultLocale)
	var list []string
	add := func(s string) {
		for _, have := range list {
			if have == s {
				return
			}
		}
		list = append(list, s)
	}
	for _, t := range tags {
		if len(list) >= maxPrefs {
			break
		}
		s := t.String()
		if s == "und" || s == "mul" {
			continue
		}
		if baseOf(s) == defBase {
			break // the default text serves from here on
		}
		add(s)
		if b := baseOf(s); b != s {
			add(b)
		}
	}
	if len(list) > maxPrefs {
		list = list[:maxPrefs]
	}
	return prefs{list: list, key: strings.Join(list, ",")}
}

func baseOf(locale string) string {
	b, _, _ := strings.Cut(locale, "-")
	return strings.ToLower(b)
}

// pickLocale returns the first of prefs that texts has, or one of the same base language,
// and false when the default text is the answer.
func pickLocale[T any](prefs []string, defaultLocale string, texts map[string]T) (string, bool) {
	if len(texts) == 0 {
		return "", false
	}
	for _, p := range prefs {
		if _, ok := texts[p]; ok {
			return p, true
		}
		base := baseOf(p)
		if base == baseOf(defaultLocale) {
			return "", false
		}
		for _, l := range sortedKeys(texts) {
			if baseOf(l) == base {
				return l, true
			}
		}
	}
	return "", false
}
