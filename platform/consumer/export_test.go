package consumer

import "context"

// Prune runs one prune of c's processed rows, as Run does about once an hour.
func Prune(ctx context.Context, c *Consumer) { c.prune(ctx) }
