package subjects

import "strings"

// Logs: every instance publishes its JSON log lines on souk.log.<origin>.<service>.<level>,
// where origin is the JetStream domain of the instance (hub, or site-<id> at an edge site),
// so that the stream LOGS can be filtered by site, service and level on the server. The hub's
// LOGS holds souk.log.hub.> and sources each site's LOGS (souk.log.site-<id>.>, in the
// site's domain): a site's token always starts with "site-", so no subject is captured twice,
// even by a site named hub.

// StreamLogs is the stream of log lines: the hub's and each edge site's (in its own domain).
const StreamLogs = "LOGS"

// LogPrefix starts the subject of every log line.
const LogPrefix = "souk.log"

// LogLevels are the levels a line's subject ends in, least severe first (zerolog's names).
var LogLevels = []string{"trace", "debug", "info", "warn", "error", "fatal", "panic"}

// LogSubject is the subject of a line of service at level from the instance of origin. A
// token that is empty or holds what a subject token may not (., *, >, white space) is
// cleaned so that the line still has one token per part: "-" when empty, "_" for each such
// character.
func LogSubject(origin, service, level string) string {
	return LogPrefix + "." + logToken(origin) + "." + logToken(service) + "." + logToken(level)
}

// LogFilter is the subject filter of the lines of origin, service and level; an empty part
// matches any ("*").
func LogFilter(origin, service, level string) string {
	part := func(s string) string {
		if s == "" {
			return "*"
		}
		return logToken(s)
	}
	return LogPrefix + "." + part(origin) + "." + part(service) + "." + part(level)
}

// LogOriginFilter is the subject space of the lines of origin (a stream's subjects, a
// source's filter): souk.log.<origin>.>.
func LogOriginFilter(origin string) string { return LogPrefix + "." + logToken(origin) + ".>" }

// logToken makes s one subject token.
func logToken(s string) string {
	if s == "" {
		return "-"
	}
	if !strings.ContainsAny(s, ".*> \t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}
