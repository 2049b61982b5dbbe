package files

import (
	"errors"
	"os"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident returns how many of the whole pages of b are in memory, and
// how many whole pages b spans.
func resident(t *testing.T, b []byte) (in, pages int) {
	t.Helper()
	page := os.Getpagesize()
	p := unsafe.Pointer(unsafe.SliceData(b))
	skip := (page - int(uintptr(p))%page) % page
	n := (len(b) - skip) / page
	vec := make([]byte, n)
	if n == 0 {
		return 0, 0
	}
	start := unsafe.Pointer(&b[skip])
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(start), uintptr(n*page), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		in += int(v & 1)
	}
	return in, n
}

// TestPopulated: a large slice from populated is all in memory before it
// is written, and reads as make's; a small one is make's. Populating
// memory that holds data leaves the data as it is.
func TestPopulated(t *testing.T) {
	if err := unix.Madvise(make([]byte, 3*os.Getpagesize())[os.Getpagesize():][:os.Getpagesize()], unix.MADV_POPULATE_WRITE); errors.Is(err, unix.EINVAL) {
		t.Skipf("this kernel has no MADV_POPULATE_WRITE (Linux 5.14): %v", err)
	}
	s := populated[Line](5, 80_000) // 2.5 MB
	if len(s) != 5 || cap(s) != 80_000 || s[4] != (Line{}) || s[:cap(s)][79_999] != (Line{}) {
		t.Fatalf("populated: len %d cap %d, %+v", len(s), cap(s), s[4])
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), cap(s)*int(unsafe.Sizeof(Line{})))
	if in, pages := resident(t, b); in != pages || pages < 600 {
		t.Errorf("%d of %d pages in memory before the slice is written, want all", in, pages)
	}

	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*7 + 3)
	}
	want := slices.Clone(data)
	populate(unsafe.Pointer(&data[100]), uintptr(len(data)-200))
	if !slices.Equal(data, want) {
		t.Error("populate changed the memory it mapped in")
	}

	g := grown([]int{1, 2, 3}, 10_000)
	if !slices.Equal(g, []int{1, 2, 3}) || cap(g) < 10_003 {
		t.Errorf("grown: %v, cap %d", g[:min(len(g), 5)], cap(g))
	}
	if g2 := grown(g, 10); &g2[0] != &g[0] {
		t.Error("grown copied a slice that had room")
	}
}
