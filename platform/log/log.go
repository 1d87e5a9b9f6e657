// Package log builds Souk's zerolog loggers: JSON for machines, console for people at a
// terminal. Loggers are passed explicitly or through a context (zerolog.Ctx); there is no
// global logger, and no global level: a process's level is its own Level, which the live
// configuration changes while it runs (platform/liveconfig's log.level).
package log

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// New returns a logger writing to w at level ("debug", "info", "warn", "error"; "info" when
// empty) in format ("json", "console", or "" for console at a terminal and JSON otherwise).
// Its level cannot change: see NewAt for one that can.
func New(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), err
	}
	return NewAt(w, lvl, format)
}

// ParseLevel reads a level ("debug", "info", "warn", "error"; "info" when empty) into a
// Level.
func ParseLevel(level string) (*Level, error) {
	lvl := zerolog.InfoLevel
	if level != "" {
		l, err := zerolog.ParseLevel(strings.ToLower(level))
		if err != nil {
			return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
		}
		lvl = l
	}
	l := &Level{}
	l.Set(lvl)
	return l, nil
}

// NewAt returns a logger writing to w in format (see New) at the level lvl holds when each
// line is logged: a change of lvl applies to every logger derived from it at once. Each of
// also gets every line too, as JSON whatever format is (a Sink).
func NewAt(w io.Writer, lvl *Level, format string, also ...io.Writer) (zerolog.Logger, error) {
	switch format {
	case "":
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
		}
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: true}
	case "json":
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q: want json or console", format)
	}
	if len(also) > 0 {
		w = zerolog.MultiLevelWriter(append([]io.Writer{w}, also...)...)
	}
	// The logger's own level lets everything through to its sampler, lvl, which zerolog
	// asks before it builds a line: a line below lvl costs a load and a compare, as it
	// would against a fixed level, and no global (zerolog.SetGlobalLevel) is touched.
	return zerolog.New(w).Level(zerolog.TraceLevel).Sample(lvl).With().Timestamp().Logger(), nil
}

// Level is a log level that can change while loggers use it. It is a zerolog.Sampler: a
// logger made by NewAt drops the lines below it. Safe for concurrent use.
type Level struct{ v atomic.Int32 }

// Set makes lvl the least level logged.
func (l *Level) Set(lvl zerolog.Level) { l.v.Store(int32(lvl)) }

// Get is the least level logged.
func (l *Level) Get() zerolog.Level { return zerolog.Level(l.v.Load()) }

// Sample reports whether a line at lvl is logged.
func (l *Level) Sample(lvl zerolog.Level) bool { return lvl >= l.Get() }
