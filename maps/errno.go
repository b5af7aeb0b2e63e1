package maps

import "syscall"

// Errno is a kernel error code returned by map operations. Its values equal
// syscall.Errno's, so errors.Is(err, syscall.ENOENT) and errors.Is(err,
// unix.ENOENT) hold, and a helper can return -int64(errno) to the program.
type Errno uintptr

// Error codes used by map operations, as the kernel returns them.
const (
	EPERM      = Errno(syscall.EPERM)
	ENOENT     = Errno(syscall.ENOENT)
	E2BIG      = Errno(syscall.E2BIG)
	EAGAIN     = Errno(syscall.EAGAIN)
	ENOMEM     = Errno(syscall.ENOMEM)
	EBUSY      = Errno(syscall.EBUSY)
	EEXIST     = Errno(syscall.EEXIST)
	EINVAL     = Errno(syscall.EINVAL)
	ENOSPC     = Errno(syscall.ENOSPC)
	EOPNOTSUPP = Errno(syscall.EOPNOTSUPP)
	EBADF      = Errno(syscall.EBADF)
	ENODEV     = Errno(syscall.ENODEV)
	EOVERFLOW  = Errno(syscall.EOVERFLOW)
	// ENOTSUPP is the kernel-internal 524 that leaks to user space from
	// some map operations (ringbuf lookups, LRU without preallocation).
	ENOTSUPP Errno = 524
)

func (e Errno) Error() string {
	if e == ENOTSUPP {
		return "operation not supported (ENOTSUPP)"
	}
	return syscall.Errno(e).Error()
}

// Is makes an Errno match the equal syscall.Errno (and so unix.Errno).
func (e Errno) Is(target error) bool {
	t, ok := target.(syscall.Errno)
	return ok && uintptr(t) == uintptr(e)
}
