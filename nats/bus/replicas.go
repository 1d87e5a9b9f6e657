package bus

// EnsureOption changes how EnsureStreams and EnsureBuckets declare what they ensure.
type EnsureOption func(*ensureConfig)

type ensureConfig struct {
	replicas int
}

// Replicas makes every stream and bucket ensured keep n copies on n servers of the cluster
// (SOUK_NATS_REPLICAS): 1 on a single server, 3 in production, so that a stream keeps
// accepting and serving with one server down and an acknowledged message is on two servers'
// disks before the publisher hears of it. Below 1 means 1; the server refuses more than 1
// when it is not clustered, and more than the servers it has.
func Replicas(n int) EnsureOption {
	return func(c *ensureConfig) { c.replicas = max(n, 1) }
}

func ensureOptions(opts []EnsureOption) ensureConfig {
	c := ensureConfig{replicas: 1}
	for _, o := range opts {
		o(&c)
	}
	return c
}
