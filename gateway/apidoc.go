package gateway

import (
	"embed"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/souk/souk/subjects"
)

// gatewaySource holds this package's Go files, for the doc comments of its own types in the
// OpenAPI document (Problem, Status).
//
//go:embed *.go
var gatewaySource embed.FS

// apiDocs are what the OpenAPI document takes from the Go source of the contract: the doc
// comments of types, fields and endpoints, and the values of constants. The comments in
// subjects/ stay the one place these texts are written; the binary carries the source
// (subjects.Source) and reads it once, when the first document is built.
type apiDocs struct {
	// types maps "pkgpath.Type" to the type's doc comment.
	types map[string]string
	// fields maps "pkgpath.Type.Field" to the field's doc comment.
	fields map[string]string
	// endpoints maps a subject to its Endpoint variable's doc comment.
	endpoints map[string]string
	// consts maps "pkgpath.Name" to a string constant's value; blocks to the values of every
	// string constant declared in its const block, in order.
	consts map[string]string
	blocks map[string][]string
	// lists maps "pkgpath.Name" of a []string variable to its elements' expressions.
	lists map[string][]ast.Expr
	// funcs maps a function's name as the runtime reports it ("pkgpath.name",
	// "pkgpath.(*T).name") to the first paragraph of its doc comment.
	funcs map[string]string
}

const (
	subjectsPkg = "github.com/souk/souk/subjects"
	gatewayPkg  = "github.com/souk/souk/gateway"
)

var docsOnce = sync.OnceValue(func() *apiDocs {
	d := &apiDocs{types: map[string]string{}, fields: map[string]string{}, endpoints: map[string]string{},
		consts: map[string]string{}, blocks: map[string][]string{}, lists: map[string][]ast.Expr{}, funcs: map[string]string{}}
	d.read(subjectsPkg, subjects.Source)
	d.read(gatewayPkg, gatewaySource)
	return d
})

// read parses the non-test Go files of fsys, the source of package pkg. A file that does not
// parse is skipped: the document then lacks its texts, which the OpenAPI tests notice.
func (d *apiDocs) read(pkg string, fsys fs.FS) {
	names, _ := fs.Glob(fsys, "*.go")
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			continue
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			continue
		}
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.GenDecl:
				d.decl(pkg, decl)
			case *ast.FuncDecl:
				d.funcs[pkg+"."+funcName(decl)] = describe(decl.Name.Name, firstParagraph(decl.Doc))
			}
		}
	}
}

func (d *apiDocs) decl(pkg string, gd *ast.GenDecl) {
	var block []string
	for _, spec := range gd.Specs {
		switch s := spec.(type) {
		case *ast.TypeSpec:
			d.types[pkg+"."+s.Name.Name] = docOf(s.Doc, gd, s.Name.Name)
			if st, ok := s.Type.(*ast.StructType); ok {
				for _, f := range st.Fields.List {
					for _, n := range f.Names {
						d.fields[pkg+"."+s.Name.Name+"."+n.Name] = text(f.Doc)
					}
				}
			}
		case *ast.ValueSpec:
			for i, n := range s.Names {
				if i >= len(s.Values) {
					break
				}
				switch v := s.Values[i].(type) {
				case *ast.BasicLit:
					if gd.Tok == token.CONST && v.Kind == token.STRING {
						if val, err := strconv.Unquote(v.Value); err == nil {
							d.consts[pkg+"."+n.Name] = val
							block = append(block, val)
						}
					}
				case *ast.CompositeLit:
					d.literal(gd, s, v)
					if _, ok := v.Type.(*ast.ArrayType); ok {
						d.lists[pkg+"."+n.Name] = v.Elts
					}
				}
			}
		}
	}
	if gd.Tok == token.CONST {
		for _, spec := range gd.Specs {
			for _, n := range spec.(*ast.ValueSpec).Names {
				d.blocks[pkg+"."+n.Name] = block
			}
		}
	}
}

// literal records the doc comment of an Endpoint variable under its Subject.
func (d *apiDocs) literal(gd *ast.GenDecl, s *ast.ValueSpec, v *ast.CompositeLit) {
	if ix, ok := v.Type.(*ast.IndexListExpr); !ok || !isIdent(ix.X, "Endpoint") {
		return
	}
	for _, e := range v.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok || !isIdent(kv.Key, "Subject") {
			continue
		}
		if lit, ok := kv.Value.(*ast.BasicLit); ok {
			if subject, err := strconv.Unquote(lit.Value); err == nil {
				d.endpoints[subject] = docOf(s.Doc, gd, s.Names[0].Name)
			}
		}
	}
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// docOf is a spec's own comment, or its declaration's when the declaration holds it alone.
func docOf(doc *ast.CommentGroup, gd *ast.GenDecl, name string) string {
	if doc == nil && len(gd.Specs) == 1 {
		doc = gd.Doc
	}
	return describe(name, text(doc))
}

// funcName is a function's name as runtime.FuncForPC spells it after the package path.
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	switch t := fd.Recv.List[0].Type.(type) {
	case *ast.StarExpr:
		if id, ok := t.X.(*ast.Ident); ok {
			return "(*" + id.Name + ")." + fd.Name.Name
		}
	case *ast.Ident:
		return t.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// firstParagraph is a comment's first paragraph, as one line: what a function does, before
// how it does it.
func firstParagraph(doc *ast.CommentGroup) string {
	if doc == nil {
		return ""
	}
	first, _, _ := strings.Cut(doc.Text(), "\n\n")
	return strings.Join(strings.Fields(first), " ")
}

// text is a comment as one paragraph.
func text(doc *ast.CommentGroup) string {
	if doc == nil {
		return ""
	}
	return strings.Join(strings.Fields(doc.Text()), " ")
}

// describe turns a Go doc comment that starts with its Go name into a text for readers of the
// API, who never see that name: "Order is an order as…" becomes "An order as…",
// "UserRegister creates an account" becomes "Creates an account".
func describe(goName, doc string) string {
	rest, ok := strings.CutPrefix(doc, goName+" ")
	if !ok {
		return doc
	}
	for _, verb := range []string{"is ", "are "} {
		if r, ok := strings.CutPrefix(rest, verb); ok {
			rest = r
			break
		}
	}
	return upperFirst(rest)
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// typeDoc is the description of a named type.
func (d *apiDocs) typeDoc(t reflect.Type) string { return d.types[t.PkgPath()+"."+t.Name()] }

// fieldDoc is the description of a struct field.
func (d *apiDocs) fieldDoc(t reflect.Type, f reflect.StructField) string {
	return describe(f.Name, d.fields[t.PkgPath()+"."+t.Name()+"."+f.Name])
}

// handlerDoc is the description of the function h, from its doc comment.
func (d *apiDocs) handlerDoc(h any) string {
	v := reflect.ValueOf(h)
	if v.Kind() != reflect.Func || v.IsNil() {
		return ""
	}
	fn := runtime.FuncForPC(v.Pointer())
	if fn == nil {
		return ""
	}
	return d.funcs[strings.TrimSuffix(fn.Name(), "-fm")]
}

// endpointDoc is the description of the endpoint serving subject.
func (d *apiDocs) endpointDoc(subject string) string { return d.endpoints[subject] }

// enum returns the values an `enum:"Name"` tag of a type of package pkg names: the elements
// of the []string variable Name, or every string constant of the const block that declares
// Name. Nil when Name is neither.
func (d *apiDocs) enum(pkg, name string) []string {
	if elts, ok := d.lists[pkg+"."+name]; ok {
		var out []string
		for _, e := range elts {
			switch v := e.(type) {
			case *ast.Ident:
				if val, ok := d.consts[pkg+"."+v.Name]; ok {
					out = append(out, val)
				}
			case *ast.BasicLit:
				if val, err := strconv.Unquote(v.Value); err == nil {
					out = append(out, val)
				}
			}
		}
		return out
	}
	return d.blocks[pkg+"."+name]
}
