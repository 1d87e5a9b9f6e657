package liveconfig

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Key is one live setting, declared once (keys.go): its name in the bucket, the setting of
// the process that gives its default, what it does, and how its text is parsed and bounded.
// Bind it to a process's Config to read its value. A Key is a value: copy it freely.
type Key[T comparable] struct {
	name, env, help, kind string
	// lo and hi are the bounds as the settings write them ("1", "24h"); empty when none.
	lo, hi string
	// def is the default as the docs show it, for a key no setting gives the default of.
	def    string
	parse  func(string) (T, error)
	format func(T) string
}

// Declared is what every Key says of itself, whatever its type: for `souk config`, the keys
// table of docs/operations.md, and validating a value before it is put.
type Declared interface {
	// Name is the key in the bucket, dotted: gateway.rate_ip.
	Name() string
	// Env is the setting (environment variable) of the process that gives the default; empty
	// when the default is fixed in the code.
	Env() string
	// Help says what the key changes.
	Help() string
	// Kind says what a valid value is: "whole number from 1 to 1000000".
	Kind() string
	// Check is nil when text is a valid value, else why not (never repeating text).
	Check(text string) error
	// Bounds are the lowest and highest values, written as a setting writes them ("1s",
	// "24h"); empty for a key without bounds (a switch, a level).
	Bounds() (lo, hi string)
	// Default is the default as the docs show it: the setting that gives it, or the value
	// the code gives it.
	Default() string
}

// Name is the key in the bucket.
func (k Key[T]) Name() string { return k.name }

// Env is the setting that gives the default; empty when none does.
func (k Key[T]) Env() string { return k.env }

// Help says what the key changes.
func (k Key[T]) Help() string { return k.help }

// Kind says what a valid value is.
func (k Key[T]) Kind() string { return k.kind }

// Default is k's default as the docs show it.
func (k Key[T]) Default() string {
	if k.env != "" {
		return "`" + k.env + "`"
	}
	return k.def
}

// WithDefault returns k documented with def, the default the code gives it where no setting
// does (the code that binds k gives the value; a test there checks that the two agree).
func (k Key[T]) WithDefault(def T) Key[T] {
	k.def = k.format(def)
	return k
}

// Bounds are the lowest and highest values of k; empty when k has none.
func (k Key[T]) Bounds() (lo, hi string) { return k.lo, k.hi }

// Check is nil when text is a valid value of k.
func (k Key[T]) Check(text string) error {
	_, err := k.Parse(text)
	return err
}

// Parse reads text (spaces around it trimmed) as a value of k, within its bounds.
func (k Key[T]) Parse(text string) (T, error) { return k.parse(strings.TrimSpace(text)) }

// Format writes v as the bucket holds it.
func (k Key[T]) Format(v T) string { return k.format(v) }

// Int declares an integer key from lo to hi.
func Int(name string, lo, hi int, env, help string) Key[int] {
	kind := fmt.Sprintf("whole number from %d to %d", lo, hi)
	return Key[int]{name: name, env: env, help: help, kind: kind, format: strconv.Itoa, lo: strconv.Itoa(lo), hi: strconv.Itoa(hi),
		parse: func(s string) (int, error) {
			n, err := strconv.Atoi(s)
			if err != nil || n < lo || n > hi {
				return 0, errors.New("want a " + kind)
			}
			return n, nil
		}}
}

// Duration declares a duration key (Go's syntax: 90s, 15m, 1h30m) from lo to hi.
func Duration(name string, lo, hi time.Duration, env, help string) Key[time.Duration] {
	kind := fmt.Sprintf("duration such as 15m, from %s to %s", short(lo), short(hi))
	return Key[time.Duration]{name: name, env: env, help: help, kind: kind, format: short, lo: short(lo), hi: short(hi),
		parse: func(s string) (time.Duration, error) {
			d, err := time.ParseDuration(s)
			if err != nil || d < lo || d > hi {
				return 0, errors.New("want a " + kind)
			}
			return d, nil
		}}
}

// short writes d without its zero units: 15m, not 15m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Switch declares an on/off key (a feature switch): on, true, 1 or off, false, 0.
func Switch(name, env, help string) Key[bool] {
	return Key[bool]{name: name, env: env, help: help, kind: "on or off",
		format: func(b bool) string {
			if b {
				return "on"
			}
			return "off"
		},
		parse: func(s string) (bool, error) {
			switch strings.ToLower(s) {
			case "on", "true", "1":
				return true, nil
			case "off", "false", "0":
				return false, nil
			}
			return false, errors.New("want on or off")
		}}
}

// Level declares a log level key: debug, info, warn or error.
func Level(name, env, help string) Key[zerolog.Level] {
	return Key[zerolog.Level]{name: name, env: env, help: help, kind: "debug, info, warn or error",
		format: zerolog.Level.String,
		parse: func(s string) (zerolog.Level, error) {
			switch l, err := zerolog.ParseLevel(strings.ToLower(s)); {
			case err != nil || l < zerolog.DebugLevel || l > zerolog.ErrorLevel:
				return zerolog.InfoLevel, errors.New("want debug, info, warn or error")
			default:
				return l, nil
			}
		}}
}
