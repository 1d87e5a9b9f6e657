package subjects

import "time"

// Revocation: the access tokens of a user, or of one session, stop working before they
// expire. The user service decides (a role change, an account removed, a password changed or
// reset) and publishes user.revoked through its outbox; the auth service writes the user's
// not-before time into the KV bucket "revocations", which every verifier (platform/authn)
// watches. docs/decisions.md, "Revocation reaches every verifier within a second".

// UserRemove removes an account (admin): it can no longer log in, its sessions end and its
// access tokens stop working; its email is freed and its profile anonymised, while its id
// stays, so the orders it placed keep their history. 404 for an unknown or removed account.
var UserRemove = Endpoint[UserIDRequest, Empty]{Subject: "souk.user.v1.user.remove", Access: Require(PermUsersAdmin)}

// EvtUserRevoked: the access tokens a user was issued before NotBefore stop working, and
// with Sessions also the refresh sessions started before it.
var EvtUserRevoked = event[UserRevoked](StreamUsers, "souk.evt.user.revoked")

// Reasons of a revocation.
const (
	RevokedRoles    = "roles"
	RevokedRemoved  = "removed"
	RevokedPassword = "password"
)

// UserRevoked is the payload of user.revoked.
type UserRevoked struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	UserID     string    `json:"user_id"`
	// NotBefore is the first issued-at (Unix seconds) a token of the user may carry: every
	// token issued earlier is refused. See platform/authn.NotBefore for the rule.
	NotBefore int64 `json:"not_before"`
	// Sessions says the refresh sessions started before NotBefore end too (an account
	// removed, a password changed), not only the access tokens (a role change).
	Sessions bool `json:"sessions"`
	// Reason is RevokedRoles, RevokedRemoved or RevokedPassword (or another the writer names).
	Reason string `json:"reason"`
}
