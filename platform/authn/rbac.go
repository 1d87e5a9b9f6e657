package authn

import (
	"slices"

	"github.com/souk/souk/subjects"
)

// Permission names one kind of action. Roles map to permissions here, in one table that the
// gateway and every service read, so the two locks can never disagree.
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

var (
	customerPerms = []Permission{PermProfile}
	staffPerms    = append(slices.Clone(customerPerms), PermCatalogWrite, PermInventoryWrite, PermOrdersAll, PermShipmentsWrite)
	adminPerms    = append(slices.Clone(staffPerms), PermUsersAdmin, PermKeysAdmin, PermRefunds, PermCouponsAdmin, PermWebhooksAdmin)
)

var rolePermissions = map[string][]Permission{
	subjects.RoleCustomer: customerPerms,
	subjects.RoleStaff:    staffPerms,
	subjects.RoleAdmin:    adminPerms,
	subjects.RoleService:  {PermInternal},
}

// Allowed reports whether any of roles grants perm. Unknown roles grant nothing.
func Allowed(roles []string, perm Permission) bool {
	for _, r := range roles {
		if slices.Contains(rolePermissions[r], perm) {
			return true
		}
	}
	return false
}

// Access is what an endpoint or route demands of its caller.
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
