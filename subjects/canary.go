package subjects

import "strings"

// Canary releases (docs/operations.md, "Canary and blue-green releases"): an instance started
// as a canary serves its service's requests on the canary subjects instead of the stable
// ones, and a weighted subject mapping on the NATS servers sends a share of the stable
// subjects there (platform/canary). The canary subjects sit inside the service's own subject
// space (souk.<service>.>), so a permission on that space covers both, and outside the
// mapped one (souk.<service>.v1.>), so a mapped request is never mapped again.

// Requests is the subject space of service's requests in the v1 contract,
// souk.<service>.v1.>: what a canary mapping takes its share of.
func Requests(service string) string { return "souk." + service + ".v1.>" }

// CanaryRequests is where a canary instance of service serves: souk.<service>.canary.v1.>.
func CanaryRequests(service string) string { return "souk." + service + ".canary.v1.>" }

// Canary returns the subject a canary instance serves for the request subject subject:
// souk.<service>.v1.<rest> becomes souk.<service>.canary.v1.<rest>. Any other subject is
// returned unchanged.
func Canary(subject string) string {
	parts := strings.SplitN(subject, ".", 4)
	if len(parts) < 4 || parts[0] != "souk" || parts[2] != "v1" {
		return subject
	}
	return "souk." + parts[1] + ".canary.v1." + parts[3]
}
