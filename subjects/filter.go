package subjects

import (
	"slices"
	"strconv"
	"strings"
)

// The filters of staff's lists (GET /v1/admin/orders, GET /v1/admin/shipments): one reading
// of a status filter for both.

// MaxFilterValues bounds the values of one list filter, before they are checked: more than
// any status list has, so only a request made to waste work meets it.
const MaxFilterValues = 16

// CheckOneOf returns values as a set (each once, sorted: the same filter is the same
// list, so its cursors agree) and "" when each is one of allowed; otherwise nil and what
// is wrong, for a FieldError's Message. No values is the empty set: no filter.
func CheckOneOf(values, allowed []string) ([]string, string) {
	if len(values) > MaxFilterValues {
		return nil, "must name at most " + strconv.Itoa(MaxFilterValues) + " values, each one of " + strings.Join(allowed, ", ")
	}
	set := make([]string, 0, len(values))
	for _, v := range values {
		if !slices.Contains(allowed, v) {
			return nil, "must be one of " + strings.Join(allowed, ", ")
		}
		set = append(set, v)
	}
	slices.Sort(set)
	return slices.Compact(set), ""
}
