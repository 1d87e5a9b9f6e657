package gateway

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/souk/souk/subjects"
)

// The readable API docs at GET /docs: a page of Swagger UI (vendored in docsui/, see its
// README.md) rendering /openapi.json. Everything the page loads is embedded in the binary and
// served by the gateway, so it works with no network; its Content-Security-Policy lets it load
// scripts, styles and data from the gateway only.

//go:embed docsui/docs.html docsui/docs.js docsui/swagger-ui-bundle.js docsui/swagger-ui.css
var docsUI embed.FS

// DocsCSP is the Content-Security-Policy of the /docs page: scripts, styles and fetches from
// the gateway itself, no inline script or style, nothing from another host. Images may also
// be data: URLs, which Swagger UI's stylesheet uses for its icons: a data: image is part of
// the stylesheet and loads nothing. Every other answer keeps the gateway's "default-src 'none'".
const DocsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Cache lifetimes of the docs: the page is revalidated every time (it names the assets of the
// running binary), the assets are immutable (their path holds a hash of their content).
const (
	docsPageCache  = "no-cache"
	docsAssetCache = "public, max-age=31536000, immutable"
)

// docsAsset is one file the page loads.
type docsAsset struct {
	// name is the file name under docsui/ and the last segment of its path.
	name string
	// media is its content type.
	media string
	// summary and description document its route.
	summary, description string
}

// docsAssets are the files the page loads, each served at /docs/assets/<version>/<name>.
var docsAssets = []docsAsset{
	{name: "swagger-ui-bundle.js", media: "text/javascript", summary: "Swagger UI's script, for /docs",
		description: "Swagger UI 5.35.0 (Apache-2.0), embedded in the binary. The version segment is a hash of the docs' files: the answer never changes and is cached for a year; any other version is a 404."},
	{name: "swagger-ui.css", media: "text/css", summary: "Swagger UI's stylesheet, for /docs",
		description: "Swagger UI 5.35.0's stylesheet, embedded in the binary; cached like its script."},
	{name: "docs.js", media: "text/javascript", summary: "The script that starts Swagger UI on /openapi.json",
		description: "Starts Swagger UI on /openapi.json with no request outside the gateway (no validator badge, no document named by the URL); cached like Swagger UI's script."},
}

// docsSite is the page and its assets, read once from the embedded files.
type docsSite struct {
	// version is a hash of every file: the assets' path segment.
	version string
	page    []byte
	files   map[string][]byte
}

var loadDocs = sync.OnceValue(func() *docsSite {
	read := func(name string) []byte {
		b, err := docsUI.ReadFile("docsui/" + name)
		if err != nil {
			panic(err) // embedded at build time: it is there
		}
		return b
	}
	s := &docsSite{files: map[string][]byte{}}
	h := sha256.New()
	page := read("docs.html")
	h.Write(page)
	for _, a := range docsAssets {
		s.files[a.name] = read(a.name)
		h.Write(s.files[a.name])
	}
	s.version = hex.EncodeToString(h.Sum(nil))[:16]
	s.page = bytes.ReplaceAll(page, []byte("{{version}}"), []byte(s.version))
	return s
})

// DocsAssetPath is the path the /docs page loads the named asset from (swagger-ui.css,
// swagger-ui-bundle.js, docs.js).
func DocsAssetPath(name string) string { return "/docs/assets/" + loadDocs().version + "/" + name }

// docsRoutes are GET /docs and the assets it loads.
func (g *Gateway) docsRoutes() []Route {
	routes := []Route{{Method: fiber.MethodGet, Path: "/docs", Tag: "operations", Summary: "Readable API docs",
		Description: "An HTML page rendering this document (/openapi.json) with Swagger UI; everything it loads is served by the gateway.",
		Access:      subjects.Public, CacheControl: docsPageCache, Call: Handle(serveDocsPage, nil, "text/html")}}
	for _, a := range docsAssets {
		routes = append(routes, Route{Method: fiber.MethodGet, Path: "/docs/assets/:version/" + a.name, Tag: "operations",
			Summary: a.summary, Description: a.description, Access: subjects.Public, CacheControl: docsAssetCache,
			Call: Handle(serveDocsAsset(a), nil, a.media)})
	}
	return routes
}

// serveDocsPage answers the /docs page, with the Content-Security-Policy DocsCSP.
func serveDocsPage(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentSecurityPolicy, DocsCSP)
	c.Response().Header.SetContentType(fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(loadDocs().page)
}

// serveDocsAsset answers asset a when the path's version is the running binary's, else 404:
// an old page must not cache a new file under an old name.
func serveDocsAsset(a docsAsset) fiber.Handler {
	return func(c *fiber.Ctx) error {
		s := loadDocs()
		if c.Params("version") != s.version {
			return fiber.ErrNotFound
		}
		c.Response().Header.SetContentType(a.media + "; charset=utf-8")
		return c.Send(s.files[a.name])
	}
}
