package reliability_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// crashFiles is how many configuration files one apply of the crash
// fixture writes.
const crashFiles = 40

// crashFixture is a tree where one apply writes crashFiles drop-ins: each
// holds a Match User block whose ClientAliveInterval the desired state
// changes from 100 to 200, so the agent edits the winning line in each
// file (and no other file).
type crashFixture struct {
	template string              // the tree before the apply
	desired  string              // the desired-state file
	old, new map[string][]byte   // etc/ssh/... -> bytes before and after a complete apply
	changed  []string            // the files the apply writes, in the order it writes them
	base     string              // where the iterations' trees go
	oracle   *opensshtest.Oracle // sshd -t on a tree

	// Measured on unkilled runs: the whole run, and when the first and
	// the last file were replaced (from the process's start).
	dur, first, last time.Duration

	// How an unkilled apply ends with no sshd running: its exit code,
	// and whether it leaves the reload recorded as pending (it cannot
	// reload a daemon that does not run). When it does, a run that wrote
	// anything always leaves the record, and a tree with every file new
	// but no record is a failure, not an ambiguity.
	doneCode    int
	donePending bool

	// strictInterrupt fails a SIGTERM iteration whose error (every file
	// old) does not say the run was interrupted; otherwise it is counted.
	strictInterrupt bool
	// beforeWrites makes every kill point a random time in the second
	// half of the stretch before the first write (the validation).
	beforeWrites bool
}

// newCrashFixture writes the template, applies it once unkilled to learn
// the new bytes, and (when measure is true, for the crash loops) times
// three more unkilled runs.
func newCrashFixture(t *testing.T, measure bool) *crashFixture {
	t.Helper()
	needRoot(t, "unshare", "ssh-keygen", "/usr/sbin/sshd")
	f := &crashFixture{oracle: opensshtest.New(t), base: t.TempDir()}
	f.template = filepath.Join(f.base, "template")
	files := map[string]string{"etc/ssh/sshd_config": mainConfig}
	var desired strings.Builder
	desired.WriteString("version: 1\nsshd:\n  match:\n")
	for i := 10; i < 10+crashFiles; i++ {
		rel := fmt.Sprintf("etc/ssh/sshd_config.d/%d-site.conf", i)
		files[rel] = fmt.Sprintf("# drop-in %d\nMatch User u%d\n    ClientAliveInterval 100\n", i, i)
		f.changed = append(f.changed, rel)
		fmt.Fprintf(&desired, "    - criteria: User u%d\n      settings: {ClientAliveInterval: 200}\n", i)
	}
	writeFiles(t, f.template, withHostKey(t, files))
	must(t, os.MkdirAll(filepath.Join(f.template, "run"), 0o755))
	f.desired = writeDesired(t, desired.String())
	f.old = configBytes(t, f.template)

	ref := filepath.Join(f.base, "reference")
	copyTree(t, f.template, ref)
	r := run(t, runOpts{}, f.args(ref)...)
	_, f.donePending = readState(t, ref)
	f.doneCode = r.code
	if r.code != 0 && (r.code != 1 || !f.donePending) {
		t.Fatalf("unkilled apply (no sshd runs): want exit 0, or exit 1 with the reload recorded as pending; got %v", r)
	}
	t.Logf("an unkilled apply with no sshd running exits %d, reload pending afterwards: %v", f.doneCode, f.donePending)
	f.new = configBytes(t, ref)
	var changed []string
	for p := range f.new {
		if !bytes.Equal(f.new[p], f.old[p]) {
			changed = append(changed, p)
		}
	}
	sort.Strings(changed)
	if !slices.Equal(changed, f.changed) || len(f.new) != len(f.old) {
		t.Fatalf("the fixture's apply changed %v and left %d files, want the %d drop-ins changed of %d", changed, len(f.new), crashFiles, len(f.old))
	}
	for _, dir := range []string{f.template, ref} {
		if err := f.oracle.ServerCheck(dir); err != nil {
			t.Fatalf("sshd -t on %s: %v", dir, err)
		}
	}
	if !measure {
		return f
	}
	var durs, firsts, lasts []time.Duration
	for i := range 3 {
		dir := filepath.Join(f.base, fmt.Sprintf("reference-%d", i))
		copyTree(t, f.template, dir)
		d, first, last, r := f.measure(t, dir)
		if r.code != f.doneCode {
			t.Fatalf("unkilled apply: %v", r)
		}
		durs, firsts, lasts = append(durs, d), append(firsts, first), append(lasts, last)
		os.RemoveAll(dir)
	}
	f.dur, f.first, f.last = median(durs), median(firsts), median(lasts)
	t.Logf("unkilled apply of %d files: %v (first file replaced at %v, last at %v; medians of 3)", crashFiles, f.dur.Round(time.Millisecond), f.first.Round(time.Millisecond), f.last.Round(time.Millisecond))
	return f
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// configBytes returns every regular file under root/etc/ssh by its path
// relative to root.
func configBytes(t testing.TB, root string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(filepath.Join(root, "etc/ssh"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		m[rel], err = os.ReadFile(p)
		return err
	})
	must(t, err)
	return m
}

// copyTree copies the directories and regular files of src to dst,
// keeping modes.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			return os.Chmod(target, info.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	must(t, err)
}

// measure runs one unkilled apply on dir, noting when the first and the
// last changed file are replaced.
func (f *crashFixture) measure(t *testing.T, dir string) (dur, first, last time.Duration, r result) {
	t.Helper()
	w := watchRenames(t, filepath.Join(dir, "etc/ssh/sshd_config.d"))
	defer w.Close()
	cmd := command(t, runOpts{}, f.args(dir)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	must(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	for !isDone(done) {
		w.read(time.Now().Add(20 * time.Millisecond))
	}
	dur = time.Since(start)
	w.read(time.Now()) // what arrived at the end
	r.stdout, r.stderr = stdout.String(), stderr.String()
	fill(&r, cmd.ProcessState)
	t1, ok1 := w.seen[filepath.Base(f.changed[0])]
	t2, ok2 := w.seen[filepath.Base(f.changed[len(f.changed)-1])]
	if !ok1 || !ok2 {
		t.Fatalf("the first/last file was not seen replaced: %v", r)
	}
	return dur, t1.Sub(start), t2.Sub(start), r
}

// args is an apply of the fixture on dir. No sshd runs, and --reload
// signal keeps the pending-reload record (--reload none would not), so
// the record is what shows that the next run reloads.
func (f *crashFixture) args(dir string, extra ...string) []string {
	return append(append([]string{"agent", "--root", dir, "--reload", "signal", "--lock-timeout", "20s"}, extra...), f.desired)
}

// killPoint is when an iteration signals the run: after the anchor-th
// changed file (0-based, in write order) was replaced, or from the start
// when anchor is -1, plus extra. Anchoring to what the run did rather than
// to the clock keeps the kills spread over the phases however loaded the
// machine is.
type killPoint struct {
	anchor int
	extra  time.Duration
}

// phase names the stretch of the run the kill point aims at.
func (k killPoint) phase() string {
	switch {
	case k.anchor < 0:
		return "signal at a random time"
	case k.anchor < crashFiles-1:
		return "signal during the writes"
	}
	return "signal after the last write"
}

func (k killPoint) String() string {
	if k.anchor < 0 {
		return "at a random time"
	}
	return fmt.Sprintf("%v after file %d was replaced", k.extra.Round(time.Microsecond), k.anchor+1)
}

// killPoint picks when to signal: a fifth of the iterations anywhere in
// the run, three fifths during the writes (right after a random file,
// before the next one is renamed), a fifth after the last write (the
// reload, the pending record, the report). A run slower than the measured
// ones may be signalled a little early, a faster one may end before.
func (f *crashFixture) killPoint(rng *rand.Rand) killPoint {
	perFile := max((f.last-f.first)/time.Duration(crashFiles-1), 50*time.Microsecond)
	if f.beforeWrites {
		return killPoint{-1, f.first/2 + time.Duration(rng.Int64N(int64(f.first/2)))}
	}
	switch p := rng.IntN(5); {
	case p == 0:
		return killPoint{-1, time.Duration(rng.Int64N(int64(f.dur)))}
	case p <= 3:
		return killPoint{rng.IntN(crashFiles), time.Duration(rng.Int64N(int64(2 * perFile)))}
	default:
		return killPoint{crashFiles - 1, time.Duration(rng.Int64N(int64(max(f.dur-f.last, time.Millisecond))))}
	}
}

// crashStats are the figures of a crash loop: counts by label.
type crashStats struct {
	mu       sync.Mutex
	count    map[string]int
	failures []string
}

// The labels, in the order the figures print them.
var crashLabels = []string{
	"signal at a random time", "signal during the writes", "signal after the last write",
	"exited before the signal",
	"SIGKILL: nothing written", "SIGKILL: some files written", "SIGKILL: all files written",
	"SIGTERM: exit 1, every file old (rolled back what it wrote)", "SIGTERM: exit 1, every file old (had written nothing)",
	"SIGTERM: exit 0 (completed)", "SIGTERM: exit 1, every file new, reload recorded",
	"SIGTERM: died of the default action (before the handler)",
	"pending record after the signal", "temp files left by the signal",
	"all written, no record, no sign of the end (ambiguous)",
	"SIGTERM: the error does not say the run was interrupted",
	"tree left as before the run (its recovery is the reference run)",
}

func (s *crashStats) add(o outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inc := func(label string, cond bool) {
		if cond {
			s.count[label]++
		}
	}
	inc(o.kill.phase(), true)
	inc("exited before the signal", o.category == "exited")
	if o.sig == syscall.SIGKILL {
		inc("SIGKILL: nothing written", o.category == "before")
		inc("SIGKILL: some files written", o.category == "during")
		inc("SIGKILL: all files written", o.category == "after")
	} else {
		switch {
		case o.signaled:
			inc("SIGTERM: died of the default action (before the handler)", true)
		case o.code == 0:
			inc("SIGTERM: exit 0 (completed)", true)
		case o.code == 1 && o.newFiles == 0:
			inc("SIGTERM: exit 1, every file old (rolled back what it wrote)", o.restored)
			inc("SIGTERM: exit 1, every file old (had written nothing)", !o.restored)
		case o.code == 1 && o.newFiles == crashFiles:
			inc("SIGTERM: exit 1, every file new, reload recorded", true)
		}
	}
	inc("pending record after the signal", o.pending)
	inc("temp files left by the signal", o.temps > 0)
	inc("all written, no record, no sign of the end (ambiguous)", o.ambiguous)
	inc("SIGTERM: the error does not say the run was interrupted", o.unclear)
	inc("tree left as before the run (its recovery is the reference run)", o.pristine)
	if len(o.errs) > 0 {
		s.failures = append(s.failures, fmt.Sprintf("iteration %d (signal %v, %v after the start; %s, %d/%d files new):\n  %s",
			o.iteration, o.kill, o.delay.Round(time.Microsecond), o.category, o.newFiles, crashFiles, strings.Join(o.errs, "\n  ")))
	}
}

func (s *crashStats) String() string {
	var parts []string
	for _, l := range crashLabels {
		if n := s.count[l]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", l, n))
		}
	}
	return strings.Join(parts, "; ")
}

// outcome is what one iteration saw.
type outcome struct {
	iteration int
	kill      killPoint
	delay     time.Duration // from the start to the signal
	category  string
	newFiles  int
	temps     int
	pending   bool
	signaled  bool // the process died of the signal
	sig       syscall.Signal
	code      int
	ambiguous bool
	restored  bool // the run logged restoring files it had written
	unclear   bool // SIGTERM, exit 1, every file old, and no word of the interruption
	pristine  bool // the tree was left as before the run: no recovery needed
	errs      []string
}

func (o *outcome) fail(format string, args ...any) {
	o.errs = append(o.errs, fmt.Sprintf(format, args...))
}

// interrupted matches the error of a run stopped by SIGINT/SIGTERM;
// strictInterrupted does not take Go's "context canceled" for an
// explanation.
var (
	interrupted       = regexp.MustCompile(`(?i)interrupt|sigterm|terminat|cancel`)
	strictInterrupted = regexp.MustCompile(`(?i)interrupt|sigterm|terminat`)
)

// crashLoop runs n iterations of: copy the template, start an apply,
// send sig after a random delay, check the tree, recover, check again.
func crashLoop(t *testing.T, f *crashFixture, name string, sig syscall.Signal, n int, seed uint64) *crashStats {
	t.Helper()
	workers := envInt(t, "SSHCONVERGE_CRASH_PARALLEL", 2)
	stats := &crashStats{count: map[string]int{}}
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				stats.add(f.iteration(t, name, i, sig, rand.New(rand.NewPCG(seed, uint64(i)))))
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("FIGURES %s: seed %d, %d iterations in %v (%d workers), %d failed: %v",
		name, seed, n, elapsed.Round(time.Millisecond), workers, len(stats.failures), stats)
	for i, fl := range stats.failures {
		if i == 10 {
			t.Errorf("… and %d more failed iterations", len(stats.failures)-10)
			break
		}
		t.Error(fl)
	}
	return stats
}

// crashSeed is SSHCONVERGE_CRASH_SEED or a new random seed.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("SSHCONVERGE_CRASH_SEED"); s != "" {
		var seed uint64
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("SSHCONVERGE_CRASH_SEED=%q: %v", s, err)
		}
		return seed
	}
	return rand.Uint64()
}

// crashIterations is the SIGKILL loop's count (the 150 by
// default); the SIGTERM loop runs two thirds of it (100).
func crashIterations(t *testing.T) int {
	t.Helper()
	def := 150
	if longRun() {
		def = 1500
	}
	return envInt(t, "SSHCONVERGE_CRASH_ITERATIONS", def)
}

// TestCrashSIGKILL kills an apply that changes 40 files at random
// moments (150 iterations). After each kill: every file holds exactly its
// old or its new bytes; nothing an Include glob reads was left behind
// (only the agent's dot-named temp files may be); sshd -t accepts the
// tree; if any file was written, the pending-reload record says a reload
// is due and --check reports it; the next run converges, sweeps the temp
// files and clears the record; and --check then exits 0.
func TestCrashSIGKILL(t *testing.T) {
	f := newCrashFixture(t, true)
	seed := crashSeed(t)
	t.Logf("seed %d (SSHCONVERGE_CRASH_SEED=%d replays it)", seed, seed)
	crashLoop(t, f, "sigkill", syscall.SIGKILL, crashIterations(t), seed)
}

// TestCrashSIGTERM sends SIGTERM at random moments (100 iterations). The
// run must stop by itself, and either roll back what it wrote (exit 1,
// every file old, an error that says it was interrupted) or finish
// (every file new; exit 0, or exit 1 with the pending reload recorded);
// no temp file is left, and the next run converges.
func TestCrashSIGTERM(t *testing.T) {
	f := newCrashFixture(t, true)
	f.strictInterrupt = true // an interrupted run says so
	seed := crashSeed(t) + 1
	t.Logf("seed %d (SSHCONVERGE_CRASH_SEED=%d replays it)", seed, seed-1)
	crashLoop(t, f, "sigterm", syscall.SIGTERM, crashIterations(t)*2/3, seed)
}

// iteration runs one kill and its recovery.
func (f *crashFixture) iteration(t *testing.T, name string, i int, sig syscall.Signal, rng *rand.Rand) outcome {
	o := outcome{iteration: i, kill: f.killPoint(rng), sig: sig}
	dir := filepath.Join(f.base, fmt.Sprintf("%s-%04d", name, i))
	copyTree(t, f.template, dir)
	defer os.RemoveAll(dir)

	r, exited := f.signalled(t, dir, sig, o.kill)
	o.delay = r.signalAt
	o.code, o.signaled = r.code, r.signal == sig
	o.restored = strings.Contains(r.stderr, "restored")
	if r.timedOut {
		o.fail("the run did not end within 20s of %v (hung):\n%v", sig, r)
		return o
	}
	f.checkAfterSignal(t, dir, sig, r, exited, &o)
	// A tree as it was before the run (every file old, no temp file, no
	// record) gives the next run the reference run's input: its recovery
	// is the reference run, already checked.
	if o.newFiles == 0 && o.temps == 0 && !o.pending && len(o.errs) == 0 && f.pristine(t, dir) {
		o.pristine = true
		return o
	}
	f.recover(t, dir, &o)
	return o
}

// pristine reports whether dir's configuration is byte for byte the
// template's and no reload is recorded as pending (the state the agent
// reads is then the template's).
func (f *crashFixture) pristine(t *testing.T, dir string) bool {
	cur := configBytes(t, dir)
	if len(cur) != len(f.old) {
		return false
	}
	for rel, b := range f.old {
		if !bytes.Equal(cur[rel], b) {
			return false
		}
	}
	_, pending := readState(t, dir)
	return !pending
}

// signalled starts an apply on dir and sends sig at kill; exited is
// true when the run had already ended by then.
func (f *crashFixture) signalled(t *testing.T, dir string, sig syscall.Signal, kill killPoint) (r result, exited bool) {
	w := watchRenames(t, filepath.Join(dir, "etc/ssh/sshd_config.d"))
	defer w.Close()
	cmd := command(t, runOpts{}, f.args(dir)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	must(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	// Wait for the anchor file to be replaced, then for the extra time.
	if kill.anchor >= 0 {
		w.waitFor(filepath.Base(f.changed[kill.anchor]), done, start.Add(20*time.Second))
	}
	timer := time.NewTimer(kill.extra)
	select {
	case <-done:
		exited = true
		timer.Stop()
	case <-timer.C:
		r.signalAt = time.Since(start)
		if err := cmd.Process.Signal(sig); errors.Is(err, os.ErrProcessDone) {
			exited = true
		}
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		r.timedOut = true
		cmd.Process.Kill()
		<-done
	}
	r.wall = time.Since(start)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	fill(&r, cmd.ProcessState)
	return r, exited
}

// checkAfterSignal checks the tree as the signalled run left it.
func (f *crashFixture) checkAfterSignal(t *testing.T, dir string, sig syscall.Signal, r result, exited bool, o *outcome) {
	cur := configBytes(t, dir)
	var bad []string
	for rel, old := range f.old {
		b, ok := cur[rel]
		switch {
		case !ok:
			bad = append(bad, rel+" is gone")
		case bytes.Equal(b, f.new[rel]) && !bytes.Equal(old, f.new[rel]):
			o.newFiles++
		case !bytes.Equal(b, old):
			bad = append(bad, fmt.Sprintf("%s is neither old nor new: %q", rel, b))
		}
	}
	for rel := range cur {
		if _, ok := f.old[rel]; ok {
			continue
		}
		if isTempName(filepath.Base(rel)) {
			o.temps++
			continue
		}
		bad = append(bad, rel+" was left behind (an Include glob may read it)")
	}
	o.temps += len(tempFiles(t, filepath.Join(dir, "var")))
	for _, b := range bad {
		o.fail("%s", b)
	}
	switch {
	case exited:
		o.category = "exited"
	case o.newFiles == 0:
		o.category = "before"
	case o.newFiles < crashFiles:
		o.category = "during"
	default:
		o.category = "after"
	}
	// sshd -t accepted the old and the new tree (newCrashFixture); a mix,
	// or one with files left behind, is asked again.
	if mixed := o.newFiles > 0 && o.newFiles < crashFiles; mixed || len(cur) != len(f.old) {
		if err := f.oracle.ServerCheck(dir); err != nil {
			o.fail("sshd -t rejects the tree the %v left: %v", sig, err)
		}
	}
	_, o.pending = readState(t, dir)
	finished := strings.Contains(r.stdout, "conflict=") || strings.Contains(r.stderr, `"message":"changed"`)
	switch {
	case o.newFiles > 0 && o.newFiles < crashFiles && !o.pending:
		o.fail("%d of %d files were written and no pending reload is recorded: the next run would not reload sshd for them", o.newFiles, crashFiles)
	case o.newFiles == crashFiles && !o.pending && f.donePending:
		o.fail("every file was written and no pending reload is recorded (with no sshd running, only a reload could clear it): the next run would not reload sshd")
	case o.newFiles == crashFiles && !o.pending && !finished:
		o.ambiguous = true // killed after the record was cleared, or it was never made
	}
	if sig == syscall.SIGTERM {
		f.checkSIGTERM(r, exited, o)
	}
}

// checkSIGTERM checks what SIGTERM promises beyond SIGKILL.
func (f *crashFixture) checkSIGTERM(r result, exited bool, o *outcome) {
	if o.temps > 0 {
		o.fail("%d temp file(s) left after SIGTERM", o.temps)
	}
	switch {
	case exited && r.code != f.doneCode:
		o.fail("the run ended before the signal with %v", r)
	case o.signaled:
		if o.newFiles != 0 {
			o.fail("the process died of SIGTERM's default action after writing %d files", o.newFiles)
		}
	case r.code == 0:
		if o.newFiles != crashFiles {
			o.fail("exit 0 after SIGTERM with %d of %d files written", o.newFiles, crashFiles)
		}
	case r.code == 1:
		if o.newFiles != 0 && (o.newFiles != crashFiles || !o.pending) {
			o.fail("exit 1 after SIGTERM with %d of %d files written and pending=%v: neither rolled back nor completed", o.newFiles, crashFiles, o.pending)
		}
		if o.newFiles == 0 && (!interrupted.MatchString(r.stderr) || f.strictInterrupt && !strictInterrupted.MatchString(r.stderr)) {
			o.unclear = true
			if f.strictInterrupt {
				o.fail("exit 1 after SIGTERM with every file old, and the error does not say the run was interrupted:\n%s", clip(r.stderr))
			}
		}
	default:
		o.fail("SIGTERM: %v", r)
	}
}

// recover runs --check (when a reload is recorded) and an apply on the
// tree a signal left, and checks that it converged: every file new, no
// temp file, and then --check in sync (exit 0), or, where an unkilled run
// keeps the reload pending for want of a running sshd, exit 2 saying
// "reload pending" and nothing else.
func (f *crashFixture) recover(t *testing.T, dir string, o *outcome) {
	// With some files old, --check exits 2 for the drift anyway; with
	// every file new, only the record can make it say so.
	if o.pending && o.newFiles == crashFiles {
		r := run(t, runOpts{}, f.args(dir, "--check")...)
		if r.code != 2 || !strings.Contains(r.stdout, "reload pending") {
			o.fail("--check with a reload recorded: want exit 2 and \"reload pending\", got %v", r)
		}
	}
	r := run(t, runOpts{}, f.args(dir)...)
	if r.code != f.doneCode {
		o.fail("the next run: want exit %d as an unkilled run, got %v", f.doneCode, r)
	}
	cur := configBytes(t, dir)
	for rel, want := range f.new {
		if !bytes.Equal(cur[rel], want) {
			o.fail("after the next run %s is %q, want %q", rel, cur[rel], want)
		}
	}
	for rel := range cur {
		if _, ok := f.new[rel]; !ok {
			o.fail("after the next run %s is still there (stale temp files are swept by the next run)", rel)
		}
	}
	if _, pending := readState(t, dir); pending != f.donePending {
		o.fail("after the next run the reload is recorded as pending: %v, want %v as after an unkilled run", pending, f.donePending)
	}
	chk := run(t, runOpts{}, f.args(dir, "--check")...)
	inSync := strings.Contains(chk.stdout, fmt.Sprintf("ok=%d changed=0 conflict=0", crashFiles))
	switch {
	case !f.donePending && (chk.code != 0 || !inSync):
		o.fail("--check after the next run: %v", chk)
	case f.donePending && (chk.code != 2 || !inSync || !strings.Contains(chk.stdout, "reload pending")):
		o.fail("--check after the next run: want exit 2 for the pending reload only, got %v", chk)
	}
}

// TestCrashAfterLastWriteReloadsRealSSHD runs the fixture against a real
// sshd and kills the agent right after it replaced the last file, before
// it sent SIGHUP: that is the moment where only the pending-reload record
// remembers that sshd runs an old configuration. The next run must send
// SIGHUP (sshd's log says so) although no file needs changing.
func TestCrashAfterLastWriteReloadsRealSSHD(t *testing.T) {
	f := newCrashFixture(t, false)
	needRoot(t, "nsenter")
	s := startSSHD(t, f.template, "")
	want := max(2, crashIterations(t)/100)
	done, late := 0, 0
	for done < want && late < 10*want {
		f.resetFiles(t, s.tree)
		killed, hupsBefore := f.killAfterLastWrite(t, s)
		if killed.timedOut {
			t.Fatalf("the agent never replaced the last file: %v", killed)
		}
		time.Sleep(300 * time.Millisecond) // let sshd log a SIGHUP sent just before the kill
		if s.hups() != hupsBefore {
			late++ // the agent got to the SIGHUP; try again
			s.waitBanner()
			continue
		}
		done++
		exists, pending := readState(t, s.tree)
		if !pending {
			t.Errorf("iteration %d: all %d files written, no SIGHUP sent, and no pending reload recorded (state.json exists: %v)", done, crashFiles, exists)
		}
		// (--check reporting the record is checked by TestCrashSIGKILL; with
		// a daemon running it takes seconds, so it runs once here.)
		if done == 1 {
			chk := run(t, runOpts{}, f.args(s.tree, "--check")...)
			if chk.code != 2 || !strings.Contains(chk.stdout, "reload pending") {
				t.Errorf("iteration %d: --check: want exit 2 and \"reload pending\", got %v", done, chk)
			}
		}
		r := run(t, runOpts{}, f.args(s.tree)...)
		if r.code != 0 {
			t.Fatalf("iteration %d: the next run: %v", done, r)
		}
		t.Logf("iteration %d: killed run %v, the next run (with the reload) %v", done, killed.wall.Round(time.Millisecond), r.wall.Round(time.Millisecond))
		if s.hups() != hupsBefore+1 {
			t.Errorf("iteration %d: the next run sent %d SIGHUPs, want 1 (sshd still serves the configuration from before the killed run)\n%v", done, s.hups()-hupsBefore, r)
		}
		s.waitBanner()
		if done == want {
			if r := run(t, runOpts{}, f.args(s.tree, "--check")...); r.code != 0 {
				t.Errorf("iteration %d: --check after the next run: %v", done, r)
			}
		}
	}
	t.Logf("FIGURES crash-real-sshd: %d kills right after the last write and before SIGHUP checked; %d kills came too late (SIGHUP already sent) and were repeated", done, late)
	if done < want {
		t.Errorf("only %d of %d kills landed before the SIGHUP", done, want)
	}
}

// resetFiles puts the fixture's old bytes back (sshd reads them only on
// SIGHUP) and removes the state.
func (f *crashFixture) resetFiles(t *testing.T, root string) {
	t.Helper()
	for rel, b := range f.old {
		must(t, os.WriteFile(filepath.Join(root, rel), b, 0o644))
	}
	os.RemoveAll(filepath.Join(root, "var/lib/sshconverge"))
}

// killAfterLastWrite starts an apply with --reload signal against s and
// SIGKILLs it as soon as the last file holds its new bytes; it returns
// the count of SIGHUPs sshd had logged before.
func (f *crashFixture) killAfterLastWrite(t *testing.T, s *testSSHD) (result, int) {
	t.Helper()
	hups := s.hups()
	w := watchRenames(t, filepath.Join(s.tree, "etc/ssh/sshd_config.d"))
	defer w.Close()
	cmd := command(t, runOpts{}, f.args(s.tree)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	must(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	var r result
	if !w.waitFor(filepath.Base(f.changed[len(f.changed)-1]), done, time.Now().Add(30*time.Second)) {
		if isDone(done) {
			r.stdout, r.stderr = stdout.String(), stderr.String()
			fill(&r, cmd.ProcessState)
			t.Fatalf("the agent ended before the test saw the last file replaced: %v", r)
		}
		r.timedOut = true
	}
	cmd.Process.Kill()
	<-done
	r.wall = time.Since(start)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	fill(&r, cmd.ProcessState)
	return r, hups
}

// sshdAvailable is used by tests that start a real sshd.
func sshdAvailable(t *testing.T) {
	t.Helper()
	needRoot(t, "/usr/sbin/sshd", "ssh-keygen", "unshare", "nsenter")
	if _, err := exec.LookPath("setpriv"); err != nil {
		opensshtest.Unavailable(t, "setpriv is missing (apt-get install -y util-linux)")
	}
}
