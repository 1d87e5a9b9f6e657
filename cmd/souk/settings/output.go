package settings

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/pg"
)

// flagValue is a setting's flag: it keeps the text given, which Parse lays over the
// environment before the typed parse, so a flag and its variable accept the same values.
// A boolean setting's flag may stand alone (-name means -name=true).
type flagValue struct {
	env, value string
	isBool     bool
}

func (v *flagValue) String() string     { return v.value }
func (v *flagValue) Set(s string) error { v.value = s; return nil }

// IsBoolFlag tells the flag package that a boolean setting's flag takes no argument.
func (v *flagValue) IsBoolFlag() bool { return v.isBool }

// newFlagSet declares a flag per setting, and extra's flags, with the help printed to out.
func newFlagSet(synopsis string, decl []setting, out io.Writer, extra []func(*flag.FlagSet)) *flag.FlagSet {
	fs := flag.NewFlagSet(synopsis, flag.ContinueOnError)
	fs.SetOutput(out)
	for _, add := range extra {
		add(fs)
	}
	for _, s := range decl {
		fs.Var(&flagValue{env: s.env, isBool: s.field.Type.Kind() == reflect.Bool}, s.flag, s.help)
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: %s\n\n", synopsis)
		own := false
		fs.VisitAll(func(f *flag.Flag) {
			if _, ok := f.Value.(*flagValue); !ok {
				name, usage := flag.UnquoteUsage(f)
				fmt.Fprintf(out, "  -%s %s\n    \t%s (default %s)\n", f.Name, name, usage, f.DefValue)
				own = true
			}
		})
		if own {
			fmt.Fprintln(out)
		}
		printSettings(out, decl)
	}
	return fs
}

// PrintHelp writes every setting's flag, variable, default and help to w. The defaults are
// the declared ones: the environment is never read, so no secret of it can show.
func PrintHelp(w io.Writer) { printSettings(w, declared()) }

func printSettings(w io.Writer, decl []setting) {
	fmt.Fprintln(w, "Each flag also reads the environment variable named after it; a flag wins over its variable.")
	fmt.Fprintln(w, "A secret may instead be read from a file: NAME_FILE=/path (as Kubernetes and Vault Agent mount them).")
	for _, s := range decl {
		def := ""
		if s.def != "" {
			def = fmt.Sprintf(" (default %q)", s.def)
		}
		fmt.Fprintf(w, "  -%s %s\n    \t%s (%s)%s\n", s.flag, s.kind(), s.fullHelp(""), s.variables("$"), def)
	}
}

// variables names the setting's environment variable, and for a secret the NAME_FILE it may
// be read from instead, each marked with mark (`$` in the help, a backquote in Markdown).
func (s setting) variables(mark string) string {
	end := ""
	if mark == "`" {
		end = mark
	}
	v := mark + s.env + end
	if s.secret != "" {
		v += " or " + mark + s.fileEnv() + end
	}
	return v
}

// kind names a setting's values in the help.
func (s setting) kind() string {
	switch {
	case s.oneof != nil:
		return strings.Join(s.oneof, "|")
	case s.check == "hostport":
		return "host:port"
	case s.check == "url" || s.check == "smtp" || s.secret == "url":
		return "url"
	case s.field.Type == durationType:
		return "duration"
	case s.field.Type.Kind() == reflect.Int:
		return "int"
	case s.field.Type.Kind() == reflect.Slice:
		return "list"
	case s.field.Type.Kind() == reflect.Bool:
		return "bool"
	}
	return "string"
}

// fullHelp is the help of s, and the live key it is the default of, quoted with mark.
func (s setting) fullHelp(mark string) string {
	if s.live == "" {
		return s.help
	}
	return s.help + "; live: the config key " + mark + s.live + mark + " overrides it while the shop runs"
}

// Markdown is README.md's table of settings, one row per setting.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| variable | flag | default | what it sets |\n|---|---|---|---|\n")
	for _, s := range declared() {
		def := "none"
		if s.def != "" {
			def = "`" + s.def + "`"
		}
		fmt.Fprintf(&b, "| %s | `-%s` | %s | %s |\n", s.variables("`"), s.flag, def, strings.ReplaceAll(s.fullHelp("`"), "|", `\|`))
	}
	return b.String()
}

// MarshalZerologObject logs every setting under its flag's name (dashes as underscores):
// a secret only as whether it is set (`admin_password_set`), a URL without its password.
func (c Config) MarshalZerologObject(e *zerolog.Event) {
	v := reflect.ValueOf(c)
	for _, s := range declared() {
		key, f := strings.ReplaceAll(s.flag, "-", "_"), v.FieldByIndex(s.field.Index)
		switch {
		case s.secret == "value":
			e.Bool(key+"_set", !f.IsZero())
		case s.secret == "url":
			e.Str(key, redactURL(f.String()))
		case f.Type() == durationType:
			e.Str(key, time.Duration(f.Int()).String())
		case f.Kind() == reflect.Int:
			e.Int(key, int(f.Int()))
		case f.Kind() == reflect.Slice:
			e.Strs(key, f.Interface().(List))
		case f.Kind() == reflect.Bool:
			e.Bool(key, f.Bool())
		default:
			e.Str(key, f.String())
		}
	}
}

// redactURL is a URL (or a PostgreSQL connection string) without its password.
func redactURL(s string) string { return pg.Redact(s) }
