package afxdp

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rxQueues returns the number of RX queues the driver runs on dev
// (ETHTOOL_GCHANNELS: rx + combined), asked through an AF_INET socket of
// the calling thread's namespace; /sys would show the namespace sysfs was
// mounted in. AF_XDP needs one socket per queue that can carry the
// stack's traffic, and binding a queue the driver does not run fails.
func rxQueues(dev string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	// struct ethtool_channels: cmd, max_rx, max_tx, max_other,
	// max_combined, rx_count, tx_count, other_count, combined_count.
	var ch [9]uint32
	ch[0] = unix.ETHTOOL_GCHANNELS
	// struct ifreq: the name, then ifr_data (a pointer) in the union.
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}
	copy(ifr.name[:unix.IFNAMSIZ-1], dev)
	ifr.data = unsafe.Pointer(&ch[0])
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	if e != 0 {
		return 0, os.NewSyscallError("ioctl(SIOCETHTOOL, ETHTOOL_GCHANNELS)", e)
	}
	return int(ch[5] + ch[8]), nil
}
