package mpxdp

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/mpxdp/mpxdp/dataplane"
	"github.com/mpxdp/mpxdp/mptcp"
)

// ResetError reports that the peer reset the connection: a TCP RST on
// the last subflow, or MP_FASTCLOSE (RFC 8684 §3.5). The errors of a
// reset connection match it with errors.As and syscall.ECONNRESET with
// errors.Is.
type ResetError = mptcp.ResetError

// FallbackError says why a connection fell back to plain TCP (RFC 8684
// §3.7). It is not an error of Read or Write: the connection goes on over
// TCP; Conn.Fallback returns it.
type FallbackError = mptcp.FallbackError

// SubflowInfo describes one subflow of a connection.
type SubflowInfo = mptcp.SubflowInfo

// ConnStats counts what happened on a connection.
type ConnStats = mptcp.ConnStats

// ErrLoopback is the error of a Dial to one of the stack's own
// addresses: a Stack has no loopback path to itself.
var ErrLoopback = errors.New("mpxdp: cannot dial the stack's own address (no loopback)")

// connError is an engine error with the errno a kernel socket would give
// in its place, so that callers can test either.
type connError struct {
	errno syscall.Errno
	err   error
}

func (e *connError) Error() string   { return e.err.Error() }
func (e *connError) Unwrap() []error { return []error{e.err, e.errno} }
func (e *connError) Timeout() bool   { return e.errno.Timeout() }

// mapErr turns a runtime or engine error into the Err of a *net.OpError
// for the system call sys ("connect", "read", "write", ...).
func mapErr(sys string, err error) error {
	var reset *mptcp.ResetError
	switch {
	case err == dataplane.ErrCanceled:
		return os.ErrDeadlineExceeded
	case err == net.ErrClosed:
		return net.ErrClosed
	case err == mptcp.ErrRefused:
		return os.NewSyscallError(sys, &connError{syscall.ECONNREFUSED, err})
	case err == mptcp.ErrTimeout:
		return os.NewSyscallError(sys, &connError{syscall.ETIMEDOUT, err})
	case errors.As(err, &reset):
		return os.NewSyscallError(sys, &connError{syscall.ECONNRESET, err})
	case err == dataplane.ErrWriteClosed, err == mptcp.ErrClosed && sys == "write":
		return os.NewSyscallError(sys, &connError{syscall.EPIPE, err})
	}
	return err
}

// mapContextErr gives a canceled or expired dial context the error the
// net package gives.
func mapContextErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return os.ErrDeadlineExceeded
	}
	return err
}
