package mpxdp

import (
	"errors"

	"github.com/mpxdp/mpxdp/dataplane/link"
)

// openInterfaces builds the AF_XDP link for Config.Interfaces.
func openInterfaces(cfg Config) (link.Link, error) {
	return nil, errors.New("mpxdp: Config.Interfaces needs the AF_XDP link (dataplane/afxdp), which this build does not have yet; pass a Config.Link")
}
