package cluster

import (
	"context"
	"fmt"
)

// Ping checks that Redis answers within ctx's deadline (for readiness).
func (c *Cluster) Ping(ctx context.Context) error {
	if err := c.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cluster: Redis at %s: %w", c.client.Options().Addr, err)
	}
	return nil
}
