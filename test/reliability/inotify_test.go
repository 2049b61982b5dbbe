package reliability_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// renameWatch reports the files renamed into a directory (the agent
// replaces a file by renaming its temp file over it), as they happen and
// without polling, through inotify.
type renameWatch struct {
	f   *os.File
	buf []byte
	// seen holds the names renamed in so far, with when the test saw it.
	seen map[string]time.Time
}

// watchRenames starts watching dir; the caller closes the watch (inotify
// instances are few: 128 per user by default).
func watchRenames(t testing.TB, dir string) *renameWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	must(t, err)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		t.Fatalf("inotify on %s: %v", dir, err)
	}
	return &renameWatch{f: os.NewFile(uintptr(fd), "inotify"), buf: make([]byte, 64<<10), seen: map[string]time.Time{}}
}

func (w *renameWatch) Close() error { return w.f.Close() }

// waitFor waits until name has been renamed into the directory, the run
// ended (done closed) or the deadline passed; it reports whether the
// rename happened.
func (w *renameWatch) waitFor(name string, done <-chan struct{}, deadline time.Time) bool {
	for {
		if _, ok := w.seen[name]; ok {
			return true
		}
		if isDone(done) || time.Now().After(deadline) {
			return false
		}
		w.read(time.Now().Add(20 * time.Millisecond))
	}
}

// read reads the events that arrive before the deadline.
func (w *renameWatch) read(deadline time.Time) {
	if err := w.f.SetReadDeadline(deadline); err != nil {
		return
	}
	n, err := w.f.Read(w.buf)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return
	}
	now := time.Now()
	for b := w.buf[:n]; len(b) >= unix.SizeofInotifyEvent; {
		nameLen := int(uint32(b[12]) | uint32(b[13])<<8 | uint32(b[14])<<16 | uint32(b[15])<<24)
		end := unix.SizeofInotifyEvent + nameLen
		if end > len(b) {
			return
		}
		name := strings.TrimRight(string(bytes.TrimRight(b[unix.SizeofInotifyEvent:end], "\x00")), "\x00")
		if _, ok := w.seen[name]; !ok {
			w.seen[name] = now
		}
		b = b[end:]
	}
}

// isDone reports whether c is closed.
func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
