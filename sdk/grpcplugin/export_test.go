package grpcplugin

// Queued is how many of c's deliveries wait for a batch: tests line deliveries up behind
// one the plugin holds, to see what goes together.
func Queued(c *Client) int {
	c.batches.mu.Lock()
	defer c.batches.mu.Unlock()
	return len(c.batches.queue)
}

// LaneAtFor is how many deliveries waiting open another lane to a plugin taking
// perDelivery for each.
var LaneAtFor = laneAtFor
