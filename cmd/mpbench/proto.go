package main

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// The control protocol. The client opens a TCP connection to the server's
// control port and both exchange JSON messages, one per line:
//
//	client                          server
//	hello{spec}              →
//	                         ←      accept{data port, stack} | error
//	ping{t0} (latency mode)  →      (16 times, for the clock offset)
//	                         ←      pong{t0, t1}
//	                                (client opens the data connections)
//	start                    →
//	                         ←      started (all data connections in)
//	                                (the test; the client may send stop)
//	done                     →      (the client's part is over)
//	                         ←      results{server result}
//	result{client result}    →      (for the server's report)
//
// Data connections go to the data port (control port + 1) over the stack
// under test, and open with a 16-byte header: "mpB1", the kind, a zero
// byte, the stream index (big endian) and the test's 8-byte cookie.
const (
	protoVersion = 1
	dataMagic    = "mpB1"
	dataHdrLen   = 16
	maxCtlMsg    = 64 << 20 // results with many intervals and connections
)

// Data connection kinds.
const (
	kindBulk byte = iota + 1
	kindLatency
	kindRR
)

// Test modes.
const (
	modeBulk    = "bulk"
	modeLatency = "latency"
	modeRR      = "rr"
)

// testSpec is what the client asks for.
type testSpec struct {
	Cookie   string        `json:"cookie"`
	Mode     string        `json:"mode"`
	Reverse  bool          `json:"reverse"`
	Parallel int           `json:"parallel"`
	Duration time.Duration `json:"duration_ns"`
	Bytes    int64         `json:"bytes,omitempty"`
	Block    int           `json:"block"`
	RRSize   int64         `json:"rr_size,omitempty"`
	Interval time.Duration `json:"interval_ns"`
	Stack    string        `json:"client_stack"`
}

// ctlMsg is one control message.
type ctlMsg struct {
	Version  int         `json:"mpbench"`
	Type     string      `json:"type"`
	Spec     *testSpec   `json:"spec,omitempty"`
	Error    string      `json:"error,omitempty"`
	DataPort int         `json:"data_port,omitempty"`
	Stack    string      `json:"stack,omitempty"`
	T0       int64       `json:"t0,omitempty"`
	T1       int64       `json:"t1,omitempty"`
	Result   *sideResult `json:"result,omitempty"`
}

// versionError is a peer speaking another protocol version.
type versionError struct{ peer, ours int }

func (e *versionError) Error() string {
	return fmt.Sprintf("version mismatch: the peer speaks mpbench protocol %d, this mpbench %d; run the same mpbench version on both hosts", e.peer, e.ours)
}

// ctl is one end of a control connection.
type ctl struct {
	c  net.Conn
	r  *bufio.Reader
	mu sync.Mutex // writes come from the test and from the stop path
}

func newCtl(c net.Conn) *ctl { return &ctl{c: c, r: bufio.NewReaderSize(c, 64<<10)} }

func (k *ctl) send(m ctlMsg) error {
	m.Version = protoVersion
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	_, err = k.c.Write(append(b, '\n'))
	return err
}

// errBadControl is a control message that is not one of ours.
var errBadControl = errors.New("not an mpbench control message")

// recv reads one message. A line that is not JSON, or too long, is
// errBadControl; another protocol version is a *versionError.
func (k *ctl) recv() (ctlMsg, error) {
	var line []byte
	for {
		part, err := k.r.ReadSlice('\n')
		if len(line)+len(part) > maxCtlMsg {
			return ctlMsg{}, fmt.Errorf("%w: a line longer than %d bytes", errBadControl, maxCtlMsg)
		}
		line = append(line, part...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return ctlMsg{}, err
		}
		break
	}
	var m ctlMsg
	if err := json.Unmarshal(line, &m); err != nil || m.Type == "" {
		return ctlMsg{}, fmt.Errorf("%w: %.40q", errBadControl, line)
	}
	if m.Version != protoVersion {
		return m, &versionError{peer: m.Version, ours: protoVersion}
	}
	return m, nil
}

// expect reads the next message and fails unless it has type want; an
// error message from the peer becomes the error.
func (k *ctl) expect(want string) (ctlMsg, error) {
	m, err := k.recv()
	if err != nil {
		return m, err
	}
	if m.Type == "error" {
		return m, &peerError{m.Error}
	}
	if m.Type != want {
		return m, fmt.Errorf("%w: got %q, want %q", errBadControl, m.Type, want)
	}
	return m, nil
}

// peerError is an error the peer reported.
type peerError struct{ msg string }

func (e *peerError) Error() string { return "the server says: " + e.msg }

func newCookie() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// dataHeader builds the header of a data connection.
func dataHeader(kind byte, stream int, cookie string) ([dataHdrLen]byte, error) {
	var h [dataHdrLen]byte
	copy(h[:], dataMagic)
	h[4] = kind
	binary.BigEndian.PutUint16(h[6:], uint16(stream))
	c, err := hex.DecodeString(cookie)
	if err != nil || len(c) != 8 {
		return h, fmt.Errorf("bad cookie %q", cookie)
	}
	copy(h[8:], c)
	return h, nil
}

// parseDataHeader checks a data connection's header.
func parseDataHeader(h []byte) (kind byte, stream int, cookie string, ok bool) {
	if len(h) < dataHdrLen || string(h[:4]) != dataMagic || h[4] < kindBulk || h[4] > kindRR {
		return 0, 0, "", false
	}
	return h[4], int(binary.BigEndian.Uint16(h[6:])), hex.EncodeToString(h[8:16]), true
}
