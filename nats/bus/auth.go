package bus

import (
	"os"
	"strings"

	"github.com/nats-io/nats.go"
)

// Auth is who a process is to a NATS server that checks (nats/accounts.conf): its user and
// password, and the TLS files. The zero Auth connects as before: no user, no TLS (the
// embedded server of a single-machine shop checks nothing).
type Auth struct {
	// User is the NATS user: a service's name (order), gateway, or admin for setup.
	User string
	// Password is User's password.
	Password string
	// PasswordFile, when set, is the file Password was read from (SOUK_NATS_PASSWORD_FILE):
	// it is read again on every reconnect, so that a rotated password (docs/operations.md)
	// is picked up without a restart. Password is used while the file cannot be read.
	PasswordFile string
	// CA is the PEM file of the certificate authority the server's certificate is checked
	// against; set, the connection is TLS.
	CA string
	// Cert and Key are the PEM files of this process's client certificate, for a server that
	// demands one (mutual TLS); both or neither.
	Cert, Key string
}

// InboxPrefix is the prefix of the reply subjects of user's requests: _INBOX.<user>. The
// permissions let each user subscribe to its own inboxes only, so no service reads the
// replies meant for another.
func InboxPrefix(user string) string { return "_INBOX." + user }

// Options are the connection options that carry a: the user, its inbox prefix, and TLS.
// The CA and the client certificate are read again on every reconnect, so a renewed
// certificate is picked up without a restart.
// The settings check that Cert and Key come together, and with CA.
func (a Auth) Options() []nats.Option {
	var opts []nats.Option
	if a.User != "" {
		opts = append(opts, nats.UserInfoHandler(a.userInfo), nats.CustomInboxPrefix(InboxPrefix(a.User)))
	}
	if a.PasswordFile != "" {
		// nats.go stops reconnecting after the same auth error twice; a password file may
		// yet be rotated into what the server wants (a Secret lags the server's reload).
		opts = append(opts, nats.IgnoreAuthErrorAbort())
	}
	if a.CA != "" {
		opts = append(opts, nats.RootCAs(a.CA))
	}
	if a.Cert != "" {
		opts = append(opts, nats.ClientCert(a.Cert, a.Key))
	}
	return opts
}

// userInfo is the user and its password as of now: PasswordFile's content when it reads
// (line breaks at the end trimmed, as the settings read it), else Password.
func (a Auth) userInfo() (string, string) {
	if a.PasswordFile != "" {
		if b, err := os.ReadFile(a.PasswordFile); err == nil {
			return a.User, strings.TrimRight(string(b), "\r\n")
		}
	}
	return a.User, a.Password
}
