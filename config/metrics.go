package config

import (
	"net"
	"strconv"
)

// Metrics is [metrics]: the listener that serves Prometheus metrics at
// /metrics (docs/metrics.md). Off by default: no address, no listener.
type Metrics struct {
	// Address is host:port to listen on, e.g. "127.0.0.1:9325"; empty:
	// no metrics listener.
	Address string `toml:"address"`
}

// validateMetrics refuses an address the listener could not use, at load
// rather than at start.
func (c *Config) validateMetrics(bad func(string, ...any)) {
	a := c.Metrics.Address
	if a == "" {
		return
	}
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		bad("metrics.address %q: want host:port, e.g. \"127.0.0.1:9325\" (%v)", a, err)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		bad("metrics.address %q: the port must be a number from 1 to 65535", a)
	}
}
