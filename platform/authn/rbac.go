package authn

import (
	"slices"

	"github.com/souk/souk/subjects"
)

var (
	customerPerms = []subjects.Permission{subjects.PermProfile}
	staffPerms    = append(slices.Clone(customerPerms), subjects.PermCatalogWrite, subjects.PermInventoryWrite, subjects.PermOrdersAll, subjects.PermShipmentsWrite)
	adminPerms    = append(slices.Clone(staffPerms), subjects.PermUsersAdmin, subjects.PermKeysAdmin, subjects.PermRefunds, subjects.PermCouponsAdmin, subjects.PermWebhooksAdmin)
)

// rolePermissions maps roles to permissions, in one table that the gateway and every service
// read; the permissions, and each endpoint's rule, are declared in subjects.
var rolePermissions = map[string][]subjects.Permission{
	subjects.RoleCustomer: customerPerms,
	subjects.RoleStaff:    staffPerms,
	subjects.RoleAdmin:    adminPerms,
	subjects.RoleService:  {subjects.PermInternal},
}

// Allowed reports whether any of roles grants perm. Unknown roles grant nothing.
func Allowed(roles []string, perm subjects.Permission) bool {
	for _, r := range roles {
		if slices.Contains(rolePermissions[r], perm) {
			return true
		}
	}
	return false
}
