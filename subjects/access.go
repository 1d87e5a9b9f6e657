package subjects

// Permission names one kind of action. Roles map to permissions in platform/authn, in one
// table that the gateway and every service read; each endpoint names the permission it needs
// in its Access, here, so the gateway's lock and the service's lock read the same rule.
type Permission string

// Souk's permissions. Add one when a new kind of action appears; never reuse a name.
const (
	// PermProfile lets a user read and change their own profile, sessions and orders.
	PermProfile Permission = "profile"
	// PermUsersAdmin lists users and changes their roles.
	PermUsersAdmin Permission = "users:admin"
	// PermKeysAdmin rotates the token signing key.
	PermKeysAdmin Permission = "keys:admin"
	// PermCatalogWrite creates and changes categories and products.
	PermCatalogWrite Permission = "catalog:write"
	// PermInventoryWrite reads and sets stock.
	PermInventoryWrite Permission = "inventory:write"
	// PermOrdersAll reads and cancels any customer's orders.
	PermOrdersAll Permission = "orders:all"
	// PermShipmentsWrite moves shipments forward.
	PermShipmentsWrite Permission = "shipments:write"
	// PermRefunds issues refunds.
	PermRefunds Permission = "refunds"
	// PermCouponsAdmin manages coupons.
	PermCouponsAdmin Permission = "coupons:admin"
	// PermWebhooksAdmin manages outgoing webhook endpoints.
	PermWebhooksAdmin Permission = "webhooks:admin"
	// PermInternal is held only by service tokens: credential checks and other calls that
	// no user may make directly.
	PermInternal Permission = "internal"
)

// Access is what an endpoint or route demands of its caller. The zero Access is not valid:
// every endpoint says Public or Require(perm), so a forgotten rule is a start-up error, not
// an open door.
type Access struct {
	public bool
	perm   Permission
}

// Public needs no token; a token that is sent anyway is still verified, so a handler can tell
// who calls.
var Public = Access{public: true}

// Require needs a valid token whose roles grant perm.
func Require(perm Permission) Access { return Access{perm: perm} }

// IsPublic reports whether a caller without a token is let in.
func (a Access) IsPublic() bool { return a.public }

// Permission is the permission demanded, empty for Public.
func (a Access) Permission() Permission { return a.perm }

// Valid reports whether a says something: Public, or a permission to hold.
func (a Access) Valid() bool { return a.public || a.perm != "" }

// String is "public" or the permission demanded.
func (a Access) String() string {
	if a.public {
		return "public"
	}
	return string(a.perm)
}

// Rules an endpoint is declared with: the permissions above, named for what a caller is.
var (
	// profileAccess: a signed-in user acting on their own things.
	profileAccess = Require(PermProfile)
	// internalAccess: a service token only.
	internalAccess = Require(PermInternal)
)
