// Package access turns what each service does on NATS — the endpoints it serves and calls,
// the events it publishes, the durable consumers it pulls from, the KV buckets and streams it
// reads — into the publish and subscribe permissions of its NATS user, and writes them as
// the accounts file of a NATS server (nats/accounts.conf). Services, the gateway and the
// operator's admin each get a user in one account, SOUK; the servers' own account is SYS.
//
// The permissions are allow lists: what a user's declaration does not name, the server
// refuses (a permissions violation; a request to it times out, its subscription gets no
// message). cmd/souk generates the users from every service's declaration (platform/kit)
// and runs the whole shop under them in a test, so a declaration that leaves out something
// its service does fails there.
package access

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/souk/souk/nats/bus"
	"github.com/souk/souk/subjects"
)

// Account is the account every user of Souk is in. One account: the services share the
// streams and buckets, and the permissions below, not account boundaries, keep them apart.
const Account = "SOUK"

// Admin is the operator's user: everything in the account, no permissions list. `souk nats
// setup` runs as Admin to create and update the streams, consumers and buckets, which no
// service's user may do; so does the nats CLI of an operator.
const Admin = "admin"

// User is what one NATS user does, as its declaration says.
type User struct {
	// Name is the user: the service's name, or gateway.
	Name string
	// Serves are the subjects of the endpoints it serves (micro, in a queue group); a user
	// that serves answers on $SRV discovery too.
	Serves []string
	// Calls are the subjects of the endpoints it requests.
	Calls []string
	// Publishes are the kinds of the events it publishes (souk.evt.order.placed): it may
	// publish on <kind>.<entity id>.
	Publishes []string
	// Consumes are its durable consumers: it may create and update them, pull from them,
	// acknowledge their messages, read their stream's messages (to copy one to the DLQ) and
	// publish their dead letters.
	Consumes []bus.Consumer
	// Buckets are the KV buckets it reads and writes; Reads those it reads and watches.
	Buckets, Reads []string
	// Follows are the streams it reads with ordered consumers of its own.
	Follows []string
	// Hears are the streams whose events it also takes as they are published, with a plain
	// subscription (the gateway wakes an order's event stream so): it may subscribe to their
	// subject space, which gives it the events published from then on, nothing stored.
	Hears []string
	// Streams are the streams it creates and updates itself.
	Streams []string
	// SiteReads are the streams and buckets (KV_<bucket>) it reads in any edge site's
	// JetStream domain ($JS.<domain>.API).
	SiteReads []string
	// Discovers lets it ask every service for its stats ($SRV.>): the gateway's /readyz.
	Discovers bool
}

// Permissions are a user's publish and subscribe permissions, as nats-server takes them.
type Permissions struct {
	// Publish are the subjects it may publish on; PublishDeny those it may not even where
	// Publish would let it (another service's durable consumers on a stream it follows).
	Publish, PublishDeny []string
	// Subscribe are the subjects it may subscribe to.
	Subscribe []string
}

// Permissions are u's permissions. durables are every durable consumer of the shop: a user
// that follows a stream may create consumers of its own on it (their names are random), but
// never touch one of these that is not its own.
func (u User) Permissions(durables []bus.Consumer) Permissions {
	var p Permissions
	pub := func(s ...string) { p.Publish = append(p.Publish, s...) }
	sub := func(s ...string) { p.Subscribe = append(p.Subscribe, s...) }

	sub(bus.InboxPrefix(u.Name) + ".>") // the replies to its requests, JetStream's included
	// Metadata only: stream and consumer info, for every process's lag metrics and the
	// outbox relay's check that its streams kept what they acknowledged.
	pub("$JS.API.INFO", "$JS.API.STREAM.INFO.*", "$JS.API.CONSUMER.LIST.*")
	// A canary's weighted mapping sends a share of each request to the endpoint's canary
	// subject, and the server checks the publish permission on the subject it mapped to; the
	// service's canary instances serve there (platform/canary).
	for _, s := range u.Calls {
		pub(s, subjects.Canary(s))
	}
	// Its log lines, from any domain (hub or site), at any level: platform/log's Sink.
	pub(subjects.LogFilter("", u.Name, ""))
	for _, s := range u.Serves {
		sub(s, subjects.Canary(s))
	}
	if len(u.Serves) > 0 {
		sub("$SRV.*", "$SRV.*."+u.Name, "$SRV.*."+u.Name+".*")
	}
	if u.Discovers {
		pub("$SRV.>")
	}
	for _, kind := range u.Publishes {
		pub(kind + ".*")
	}
	for _, c := range u.Consumes {
		pub(durable(c.Stream, c.Name)...)
		pub("$JS.API.CONSUMER.INFO."+c.Stream+"."+c.Name, "$JS.API.STREAM.MSG.GET."+c.Stream,
			"$JS.ACK."+c.Stream+"."+c.Name+".>", "$JS.ACK.*.*."+c.Stream+"."+c.Name+".>",
			subjects.DLQSubject(c.Stream, c.Name))
		sub("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + c.Stream + "." + c.Name)
	}
	for _, s := range u.Follows {
		pub(follow(s)...)
		for _, d := range durables {
			if d.Stream == s && !slices.ContainsFunc(u.Consumes, func(c bus.Consumer) bool { return c.Stream == s && c.Name == d.Name }) {
				p.PublishDeny = append(p.PublishDeny, durable(d.Stream, d.Name)...)
			}
		}
	}
	for _, s := range u.Streams {
		pub("$JS.API.STREAM.CREATE."+s, "$JS.API.STREAM.UPDATE."+s)
	}
	for _, s := range u.SiteReads {
		pub("$JS.*.API.STREAM.INFO." + s)
		if strings.HasPrefix(s, "KV_") {
			pub(reads("$JS.*.API.", s)...)
		}
	}
	for _, s := range u.Hears {
		sub(subjects.StreamSubjects[s])
	}
	for _, b := range u.Buckets {
		pub("$KV." + b + ".>")
	}
	for _, b := range append(slices.Clone(u.Buckets), u.Reads...) {
		pub(reads("$JS.API.", "KV_"+b)...)
	}
	p.Publish, p.PublishDeny, p.Subscribe = tidy(p.Publish), tidy(p.PublishDeny), tidy(p.Subscribe)
	return p
}

// durable is what one durable consumer's owner may do to it through the JetStream API:
// create or update it (both API forms), delete it and pull from it.
func durable(stream, name string) []string {
	return []string{"$JS.API.CONSUMER.CREATE." + stream + "." + name, "$JS.API.CONSUMER.CREATE." + stream + "." + name + ".>",
		"$JS.API.CONSUMER.DURABLE.CREATE." + stream + "." + name, "$JS.API.CONSUMER.DELETE." + stream + "." + name,
		"$JS.API.CONSUMER.MSG.NEXT." + stream + "." + name}
}

// follow is what an ordered consumer of stream needs: to create, pull from, ask after and
// delete consumers of any name on it (an ordered consumer's name is random).
func follow(stream string) []string { return followAt("$JS.API.", stream) }

// followAt is follow through the JetStream API at prefix ($JS.API. or a domain's).
func followAt(prefix, stream string) []string {
	return []string{prefix + "CONSUMER.CREATE." + stream + ".>", prefix + "CONSUMER.MSG.NEXT." + stream + ".>",
		prefix + "CONSUMER.INFO." + stream + ".>", prefix + "CONSUMER.DELETE." + stream + ".>"}
}

// reads is what reading a KV bucket's stream needs through the API at prefix: a key's
// value (direct or by sequence), and watches and key lists (ordered consumers, created
// the older way too).
func reads(prefix, stream string) []string {
	return append(followAt(prefix, stream), prefix+"DIRECT.GET."+stream, prefix+"DIRECT.GET."+stream+".>",
		prefix+"STREAM.MSG.GET."+stream, prefix+"CONSUMER.CREATE."+stream)
}

// tidy sorts subjects and drops repeats, so that the file is the same for the same users.
func tidy(subjects []string) []string {
	slices.Sort(subjects)
	return slices.Compact(subjects)
}

// PasswordVar is the environment variable of the server that holds user's password:
// SOUK_NATS_PASSWORD_ORDER. The file names variables, never passwords.
func PasswordVar(user string) string {
	return "SOUK_NATS_PASSWORD_" + strings.ToUpper(strings.ReplaceAll(user, "-", "_"))
}

// Conf is the accounts file: account SOUK with Admin and users, each with the permissions
// of its traffic, and account SYS, the servers' own, with user sys.
func Conf(users []User) string {
	users = slices.SortedFunc(slices.Values(users), func(a, b User) int { return cmp.Compare(a.Name, b.Name) })
	var durables []bus.Consumer
	for _, u := range users {
		durables = append(durables, u.Consumes...)
	}
	var b strings.Builder
	b.WriteString(header)
	fmt.Fprintf(&b, "accounts {\n  %s {\n    jetstream: enabled\n", Account)
	b.WriteString("    # the canary shares: souk canary > canary.conf, then reload every server (docs/operations.md)\n")
	b.WriteString("    include ./canary.conf\n    users: [\n")
	fmt.Fprintf(&b, "      # %s: the operator's and souk nats setup's user, unrestricted.\n", Admin)
	fmt.Fprintf(&b, "      { user: %s, password: $%s }\n", Admin, PasswordVar(Admin))
	for _, u := range users {
		p := u.Permissions(durables)
		fmt.Fprintf(&b, "      { user: %s, password: $%s, permissions: {\n", u.Name, PasswordVar(u.Name))
		list(&b, "publish", p.Publish, p.PublishDeny)
		list(&b, "subscribe", p.Subscribe, nil)
		b.WriteString("        # replies to the requests it serves and to JetStream's flow control\n")
		b.WriteString("        allow_responses: true\n      } }\n")
	}
	b.WriteString("    ]\n  }\n")
	fmt.Fprintf(&b, "  SYS {\n    users: [\n      { user: sys, password: $%s }\n    ]\n  }\n}\nsystem_account: SYS\n", PasswordVar("sys"))
	return b.String()
}

// list writes one permission, allow and deny, a quoted subject a line.
func list(b *strings.Builder, name string, allow, deny []string) {
	fmt.Fprintf(b, "        %s: {\n", name)
	for _, part := range []struct {
		key  string
		subs []string
	}{{"allow", allow}, {"deny", deny}} {
		if len(part.subs) == 0 {
			continue
		}
		fmt.Fprintf(b, "          %s: [\n", part.key)
		for _, s := range part.subs {
			fmt.Fprintf(b, "            %q\n", s)
		}
		b.WriteString("          ]\n")
	}
	b.WriteString("        }\n")
}

const header = `# Souk's NATS accounts and users, GENERATED from the services' declarations
# (platform/kit: endpoints served and called, events published, durable consumers, KV
# buckets, followed streams) by "souk nats-accounts > nats/accounts.conf". Do not edit:
# cmd/souk's TestNATSAccountsGenerated fails when this file differs from the generator.
#
# Every password is an environment variable of the server (SOUK_NATS_PASSWORD_<USER>), or
# a bcrypt hash in it ("nats server passwd"); a server refuses to start while one is unset.
# docs/operations.md, "NATS accounts, users and TLS", says how to deploy and rotate them.

`
