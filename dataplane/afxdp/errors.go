package afxdp

import (
	"errors"
	"os"

	"github.com/mpxdp/mpxdp/xsk"
)

// setupErr wraps a failed set-up system call as an *xsk.SetupError, the
// project's set-up error: the call, its errno, and the fix.
func setupErr(op string, err error, hint string) error {
	var se *xsk.SetupError
	if errors.As(err, &se) {
		return err
	}
	if _, ok := err.(*os.SyscallError); !ok {
		err = os.NewSyscallError(op, err)
	}
	if hint == "" && errors.Is(err, os.ErrPermission) {
		hint = hintRoot
	}
	return &xsk.SetupError{Op: op, Err: err, Hint: hint}
}

const hintRoot = "run as root, or grant CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF and CAP_IPC_LOCK"
