package files

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// populateFrom is the size from which populated asks the kernel to map
// an allocation's memory in at once.
const populateFrom = 16 << 10

// populated returns make([]T, n, c), its memory mapped in by one
// madvise(2) call when it is large (populateFrom), instead of by a page
// fault per page as the slice is first written. A load writes every
// element of the large slices it makes, and on a virtual machine a page
// fault costs 10 to 20 µs, a page mapped in by MADV_POPULATE_WRITE under
// 1: for the 100,000-block ssh_config that is most of the load's time.
// Before Linux 5.14 the call fails and the pages fault in as before.
func populated[T any](n, c int) []T {
	s := make([]T, n, c)
	var zero T
	if size := uintptr(c) * unsafe.Sizeof(zero); size >= populateFrom {
		populate(unsafe.Pointer(unsafe.SliceData(s)), size)
	}
	return s
}

// grown returns s with room for n more elements, as slices.Grow, the new
// memory populated.
func grown[T any](s []T, n int) []T {
	if cap(s)-len(s) >= n {
		return s
	}
	t := populated[T](len(s), max(len(s)+n, 2*cap(s)))
	copy(t, s)
	return t
}

// populate maps in the whole pages of the size bytes at p (memory of the
// Go heap: what a page holds stays as it is, zero when it was never
// written).
func populate(p unsafe.Pointer, size uintptr) {
	page := uintptr(os.Getpagesize())
	skip := (page - uintptr(p)%page) % page
	if size < skip+page {
		return
	}
	n := (size - skip) / page * page
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, skip)), n), unix.MADV_POPULATE_WRITE) // best effort
}
