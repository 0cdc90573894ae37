package afxdp

import (
	"net/netip"

	"github.com/mpxdp/mpxdp/xsk"
)

// nic is one network device the Link drives: its AF_XDP sockets (one per
// queue, all on the Link's UMEM), its XDP filter, and what Ethernet needs.
type nic struct {
	name   string
	index  int
	mac    [6]byte
	mtu    int
	addrs  []netip.Prefix
	socks  []*xsk.Socket
	filter *xsk.Filter
	txq    []xsk.Desc // descriptors of the Transmit in progress
}
