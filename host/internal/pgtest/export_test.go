package pgtest

// Dir is the cluster's directory (data, socket, log).
func (c *Cluster) Dir() string { return c.dir }
