// Package pcap reads and writes classic libpcap capture files: the kernel
// MPTCP captures the tests replay, and the traces the simulator and the
// tests write for tshark. It supports both byte orders, microsecond and
// nanosecond timestamps, and the link types the project meets (Ethernet,
// raw IP, Linux cooked v1 and v2). It is not on any hot path.
package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Link types (https://www.tcpdump.org/linktypes.html).
const (
	LinkEthernet  = 1
	LinkRaw       = 101
	LinkLinuxSLL  = 113
	LinkLinuxSLL2 = 276
)

const (
	magicMicro = 0xa1b2c3d4
	magicNano  = 0xa1b23c4d
)

// Packet is one captured record.
type Packet struct {
	Time    time.Time
	Data    []byte // captured bytes (possibly truncated to the snap length)
	OrigLen int    // length on the wire
}

// File is a whole capture held in memory.
type File struct {
	LinkType uint32
	SnapLen  uint32
	Packets  []Packet
}

// ErrFormat reports a file that is not a classic pcap file or is damaged.
var ErrFormat = errors.New("pcap: bad format")

// ReadFile reads a whole capture file.
func ReadFile(name string) (*File, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse decodes a whole capture held in b.
func Parse(b []byte) (*File, error) {
	if len(b) < 24 {
		return nil, fmt.Errorf("%w: short header", ErrFormat)
	}
	var bo binary.ByteOrder
	var nano bool
	switch m := binary.LittleEndian.Uint32(b); m {
	case magicMicro, magicNano:
		bo, nano = binary.LittleEndian, m == magicNano
	default:
		switch binary.BigEndian.Uint32(b) {
		case magicMicro:
			bo = binary.BigEndian
		case magicNano:
			bo, nano = binary.BigEndian, true
		default:
			return nil, fmt.Errorf("%w: magic %#x", ErrFormat, m)
		}
	}
	f := &File{SnapLen: bo.Uint32(b[16:]), LinkType: bo.Uint32(b[20:])}
	b = b[24:]
	for len(b) > 0 {
		if len(b) < 16 {
			return nil, fmt.Errorf("%w: short record header", ErrFormat)
		}
		sec, frac := bo.Uint32(b), bo.Uint32(b[4:])
		capLen, origLen := bo.Uint32(b[8:]), bo.Uint32(b[12:])
		b = b[16:]
		if uint64(capLen) > uint64(len(b)) {
			return nil, fmt.Errorf("%w: record of %d bytes, %d left", ErrFormat, capLen, len(b))
		}
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		f.Packets = append(f.Packets, Packet{
			Time:    time.Unix(int64(sec), ns),
			Data:    b[:capLen:capLen],
			OrigLen: int(origLen),
		})
		b = b[capLen:]
	}
	return f, nil
}

// NetworkLayer returns the IP packet inside a captured frame, or nil if the
// frame is not IPv4/IPv6 or too short. VLAN tags on Ethernet are skipped.
func NetworkLayer(linkType uint32, frame []byte) []byte {
	switch linkType {
	case LinkRaw:
		return frame
	case LinkEthernet:
		if len(frame) < 14 {
			return nil
		}
		et, off := binary.BigEndian.Uint16(frame[12:]), 14
		for (et == 0x8100 || et == 0x88a8) && len(frame) >= off+4 {
			et, off = binary.BigEndian.Uint16(frame[off+2:]), off+4
		}
		if et != 0x0800 && et != 0x86dd {
			return nil
		}
		return frame[off:]
	case LinkLinuxSLL:
		if len(frame) < 16 {
			return nil
		}
		if et := binary.BigEndian.Uint16(frame[14:]); et != 0x0800 && et != 0x86dd {
			return nil
		}
		return frame[16:]
	case LinkLinuxSLL2:
		if len(frame) < 20 {
			return nil
		}
		if et := binary.BigEndian.Uint16(frame[0:]); et != 0x0800 && et != 0x86dd {
			return nil
		}
		return frame[20:]
	}
	return nil
}

// Writer writes a capture with microsecond timestamps in little-endian
// order, the most widely readable form.
type Writer struct {
	w   io.Writer
	hdr [16]byte
}

// NewWriter writes the file header and returns a Writer.
func NewWriter(w io.Writer, linkType, snapLen uint32) (*Writer, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], magicMicro)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], snapLen)
	binary.LittleEndian.PutUint32(h[20:], linkType)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &Writer{w: w}, nil
}

// WritePacket appends one record. t is the capture time.
func (pw *Writer) WritePacket(t time.Time, data []byte) error {
	us := t.UnixMicro()
	binary.LittleEndian.PutUint32(pw.hdr[0:], uint32(us/1e6))
	binary.LittleEndian.PutUint32(pw.hdr[4:], uint32(us%1e6))
	binary.LittleEndian.PutUint32(pw.hdr[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(pw.hdr[12:], uint32(len(data)))
	if _, err := pw.w.Write(pw.hdr[:]); err != nil {
		return err
	}
	_, err := pw.w.Write(data)
	return err
}
