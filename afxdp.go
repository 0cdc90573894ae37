package mpxdp

import (
	"fmt"

	"github.com/mpxdp/mpxdp/dataplane/afxdp"
	"github.com/mpxdp/mpxdp/dataplane/link"
)

// openInterfaces builds the AF_XDP link for Config.Interfaces, in the
// calling thread's network namespace, with the engine's ephemeral range.
func openInterfaces(cfg Config) (link.Link, error) {
	l, err := afxdp.Open(afxdp.Config{
		Interfaces: cfg.Interfaces,
		Addrs:      cfg.Addrs,
		Ephemeral:  cfg.Engine.EphemeralPorts,
	})
	if err != nil {
		return nil, fmt.Errorf("mpxdp: %w", err)
	}
	return l, nil
}
