package settings

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/rs/zerolog"

	"github.com/souk/souk/platform/liveconfig"
	"github.com/souk/souk/platform/seal"
)

// setting is one field of Config as its tags declare it.
type setting struct {
	field                reflect.StructField
	env, flag, def, help string
	secret               string // "", "value" or "url"
	min, max             string
	oneof                []string
	check                string
	// live is the key of the live configuration this setting is the default of; empty when
	// none.
	live string
}

// declared reads the settings from Config's tags, in their order. A malformed declaration
// panics: it is a programming error that every test of this package meets first.
func declared() []setting {
	t := reflect.TypeFor[Config]()
	var out []setting
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := f.Tag.Lookup("env")
		if !ok {
			continue
		}
		s := setting{field: f, env: name, flag: f.Tag.Get("flag"), def: f.Tag.Get("envDefault"), help: f.Tag.Get("help"),
			secret: f.Tag.Get("secret"), min: f.Tag.Get("min"), max: f.Tag.Get("max"), check: f.Tag.Get("check")}
		if o := f.Tag.Get("oneof"); o != "" {
			s.oneof = strings.Fields(o)
		}
		if s.flag == "" || s.help == "" {
			panic("settings: " + f.Name + " needs a flag and a help")
		}
		s.fromLive(f.Tag.Get("live"))
		if _, known := checks[s.check]; s.check != "" && !known {
			panic("settings: " + f.Name + ": unknown check " + s.check)
		}
		if (f.Type == durationType || f.Type.Kind() == reflect.Int) && (s.min == "" || s.max == "") {
			panic("settings: " + f.Name + " needs min and max")
		}
		out = append(out, s)
	}
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

// fromLive makes s the default of the live key name (when not empty), its bounds the key's:
// they are declared once, in platform/liveconfig, so the setting at start and the key
// while the shop runs accept the same values.
func (s *setting) fromLive(name string) {
	if name == "" {
		return
	}
	k, ok := liveconfig.Lookup(name)
	switch {
	case !ok:
		panic("settings: " + s.env + ": unknown live key " + name)
	case k.Env() != s.env:
		panic("settings: " + s.env + ": live key " + name + " names " + k.Env() + " as its default")
	case s.min != "" || s.max != "":
		panic("settings: " + s.env + ": the bounds come from live key " + name)
	}
	s.live = name
	s.min, s.max = k.Bounds()
}

// Parse reads the settings from getenv and then from the flags in args: a flag wins over
// its environment variable, the variable over the declared default (an empty variable
// counts as unset). It returns the validated Config and the positional arguments. synopsis
// heads the help (`souk run [flags] [targets]`); extra adds a command's own flags. With -h
// or --help it prints the help to out and returns flag.ErrHelp.
func Parse(synopsis string, args []string, getenv func(string) string, out io.Writer, extra ...func(*flag.FlagSet)) (Config, []string, error) {
	decl := declared()
	fs := newFlagSet(synopsis, decl, out, extra)
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	raw := map[string]string{}
	var errs []error
	for _, s := range decl {
		v, err := s.fromEnv(getenv)
		if err != nil {
			errs = append(errs, err)
		} else if v != "" {
			raw[s.env] = v
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if v, ok := f.Value.(*flagValue); ok {
			raw[v.env] = v.value
		}
	})
	c, err := parse(decl, raw)
	return c, fs.Args(), errors.Join(append(errs, err)...)
}

// maxSecretFile bounds what a NAME_FILE may hold: a secret is a line, not a file's worth.
const maxSecretFile = 64 << 10

// fileEnv is the variable naming the file a secret setting may be read from: NAME_FILE,
// as Kubernetes Secrets mounted as files and Vault Agent's templates give secrets.
func (s setting) fileEnv() string { return s.env + "_FILE" }

// fromEnv is the setting's text from the environment: its variable or, for a secret, the
// contents of the file its NAME_FILE names, line breaks at the end trimmed. Both set is an
// error naming both; a file that cannot be read is an error naming the variable and the
// path. No error holds a value.
func (s setting) fromEnv(getenv func(string) string) (string, error) {
	v := getenv(s.env)
	if s.secret == "" {
		return v, nil
	}
	path := getenv(s.fileEnv())
	switch {
	case path == "":
		return v, nil
	case v != "":
		return "", fmt.Errorf("%s and %s are both set: give the secret one way", s.env, s.fileEnv())
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.fileEnv(), err) // *fs.PathError: the operation, the path, why
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("%s: %w", s.fileEnv(), err)
	case len(b) > maxSecretFile:
		return "", fmt.Errorf("%s %s: larger than %d KiB: not a secret", s.fileEnv(), path, maxSecretFile>>10)
	}
	text := strings.TrimRight(string(b), "\r\n")
	if text == "" {
		return "", fmt.Errorf("%s %s: the file is empty", s.fileEnv(), path)
	}
	return text, nil
}

// parse turns the raw strings by environment variable into a validated Config.
func parse(decl []setting, raw map[string]string) (Config, error) {
	var c Config
	unparsable := map[string]bool{}
	if err := env.ParseWithOptions(&c, env.Options{Environment: raw}); err != nil {
		var all env.AggregateError
		var pe env.ParseError
		if !errors.As(err, &all) {
			return c, err
		}
		for _, e := range all.Errors {
			if !errors.As(e, &pe) {
				return c, err // a declaration the library refuses: a programming error
			}
			unparsable[pe.Name] = true // said in the setting's own words below
		}
	}
	_, c.NATSListenExplicit = raw["SOUK_NATS_LISTEN"]
	v := reflect.ValueOf(c)
	var errs []error
	for _, s := range decl {
		text, ok := raw[s.env]
		if !ok {
			text = s.def
		}
		if err := s.validate(text, v.FieldByIndex(s.field.Index), unparsable[s.field.Name]); err != nil {
			errs = append(errs, fmt.Errorf("%s (-%s) %s: %w", s.env, s.flag, s.quote(text), err))
		}
	}
	return c, errors.Join(append(errs, c.rules()...)...)
}

// validate checks one setting's text and the value parsed from it.
func (s setting) validate(text string, v reflect.Value, unparsable bool) error {
	switch {
	case s.field.Type == durationType:
		lo, hi := mustDuration(s.min), mustDuration(s.max)
		if d := time.Duration(v.Int()); unparsable || d < lo || d > hi {
			return fmt.Errorf("want a duration such as 15m, from %s to %s", s.min, s.max)
		}
	case s.field.Type.Kind() == reflect.Int:
		lo, hi := mustInt(s.min), mustInt(s.max)
		if n := v.Int(); unparsable || n < lo || n > hi {
			return fmt.Errorf("want a whole number from %s to %s", s.min, s.max)
		}
	case unparsable:
		return errors.New("not a valid value")
	}
	if text == "" {
		return nil // an empty setting is off; one that must not be empty has a default
	}
	if s.oneof != nil && !slices.Contains(s.oneof, text) {
		return fmt.Errorf("want %s", strings.Join(s.oneof, " or "))
	}
	if s.check != "" {
		return checks[s.check](text)
	}
	return nil
}

// quote is text as an error may show it: never a secret, a URL without its password.
func (s setting) quote(text string) string {
	switch s.secret {
	case "value":
		return "(secret)"
	case "url":
		if u, err := url.Parse(text); err != nil || u.Opaque != "" || u.Host == "" {
			return "(not shown: it may hold a password)" // a password the parser did not find
		}
		return strconv.Quote(redactURL(text))
	}
	return strconv.Quote(text)
}

// releaseLabel is a canary's release label: a version or a build id, shown as is.
var releaseLabel = regexp.MustCompile(`^[A-Za-z0-9._+-]{1,64}$`)

// checks are the named rules of the check tag. Their errors never repeat the value.
var checks = map[string]func(string) error{
	"hostport": func(v string) error {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return errors.New("want host:port")
		}
		return nil
	},
	"url": func(v string) error {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("want an http:// or https:// URL with a host")
		}
		return nil
	},
	"smtp": func(v string) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			return errors.New("want smtp://user:pass@host:587?from=shop@example.com or smtps://…:465")
		}
		if _, err := mail.ParseAddress(u.Query().Get("from")); err != nil {
			return errors.New("?from= must be the sender's address, such as shop@example.com")
		}
		return nil
	},
	"key": func(v string) error {
		_, err := seal.ParseKey(v) // its errors never repeat the key
		return err
	},
	"keys": func(v string) error {
		for i, k := range splitList(v) {
			if _, err := seal.ParseKey(k); err != nil {
				return fmt.Errorf("key %d: %w", i+1, err)
			}
		}
		return nil
	},
	"label": func(v string) error {
		if !releaseLabel.MatchString(v) {
			return errors.New("want 1 to 64 of A-Z a-z 0-9 . _ + -")
		}
		return nil
	},
	"loglevel": func(v string) error {
		if _, err := zerolog.ParseLevel(strings.ToLower(v)); err != nil {
			return errors.New("want debug, info, warn or error")
		}
		return nil
	},
}

func mustDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic("settings: bound " + s + ": " + err.Error())
	}
	return d
}

func mustInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic("settings: bound " + s + ": " + err.Error())
	}
	return n
}
