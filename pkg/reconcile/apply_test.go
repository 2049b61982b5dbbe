package reconcile

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/desired"
	"github.com/sshconverge/agent/pkg/files"
	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

const keepalive = `version: 1
sshd:
  settings:
    ClientAliveInterval: 300
    ClientAliveCountMax: 2
  match:
    - criteria: User backup
      settings: {ClientAliveInterval: 60}
ssh:
  hosts:
    - host: examplehost
      settings:
        Hostname: examplehost.com
        ServerAliveInterval: 180
        ServerAliveCountMax: 2
`

func computeIn(t *testing.T, dir, yaml string) (*Plan, *files.Root) {
	t.Helper()
	st, err := desired.Parse("keepalive.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	root, err := files.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compute(st, Options{Root: root, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return p, root
}

// fakeSystem is a System that writes and restores real files under root
// and records every call; validation fails with validate, the reload with
// reload.
type fakeSystem struct {
	fs               *FS
	validate, reload error
	failWrite        map[string]error // by path
	calls            []string
}

func (f *fakeSystem) Validate(context.Context, []FileChange) error {
	f.calls = append(f.calls, "validate")
	return f.validate
}

func (f *fakeSystem) Write(_ context.Context, c FileChange) error {
	f.calls = append(f.calls, "write "+c.Path)
	if err := f.failWrite[c.Path]; err != nil {
		return err
	}
	return writeFile(f.fs, c)
}

func (f *fakeSystem) Reload(context.Context) (ReloadOutcome, error) {
	f.calls = append(f.calls, "reload")
	return Reloaded, f.reload
}

func (f *fakeSystem) Did() string { return "" }

func (f *fakeSystem) Restore(_ context.Context, written []FileChange) error {
	var errs []error
	for i := len(written) - 1; i >= 0; i-- {
		f.calls = append(f.calls, "restore "+written[i].Path)
		errs = append(errs, restoreFile(f.fs, written[i]))
	}
	return errors.Join(errs...)
}

// openFS opens root for writing until the test ends.
func openFS(t *testing.T, root *files.Root) *FS {
	t.Helper()
	fsys, err := OpenFS(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

// stamps returns every file's content, mode and mtime under dir.
func stamps(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			m[p] = info.Mode().String() + " " + info.ModTime().Format(time.RFC3339Nano) + "\n" + string(b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestApplyIdempotentOnDistros applies the quick start's settings to every
// distro layout, then plans again: the second plan is empty, and applying
// it leaves every file untouched (bytes, mode and mtime).
func TestApplyIdempotentOnDistros(t *testing.T) {
	trees, _ := filepath.Glob("../files/testdata/distro/*")
	n := 0
	for _, src := range trees {
		if st, err := os.Stat(filepath.Join(src, "etc/ssh")); err != nil || !st.IsDir() {
			continue
		}
		n++
		t.Run(filepath.Base(src), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
				t.Fatal(err)
			}
			server, client, _ := strings.Cut(keepalive, "\nssh:")
			yaml := "version: 1\n"
			if _, err := os.Stat(filepath.Join(dir, "etc/ssh/sshd_config")); err == nil {
				yaml = server + "\n"
			}
			if _, err := os.Stat(filepath.Join(dir, "etc/ssh/ssh_config")); err == nil {
				yaml += "ssh:" + client
			}
			p, root := computeIn(t, dir, yaml)
			if _, err := Apply(context.Background(), p, &fakeSystem{fs: openFS(t, root)}, ApplyOptions{Log: zerolog.Nop()}); err != nil {
				t.Fatal(err)
			}
			again, _ := computeIn(t, dir, yaml)
			if !again.InSync() || len(again.Files) != 0 {
				t.Fatalf("second plan not empty: %+v", again.Changes)
			}
			before := stamps(t, dir)
			res, err := Apply(context.Background(), again, &fakeSystem{fs: openFS(t, root)}, ApplyOptions{Log: zerolog.Nop()})
			if err != nil || len(res.Written) != 0 {
				t.Fatalf("second apply wrote %v (%v)", res.Written, err)
			}
			for p, s := range stamps(t, dir) {
				if before[p] != s {
					t.Errorf("%s changed on the second run", p)
				}
			}
		})
	}
	if n < 5 {
		t.Fatalf("only %d distro trees", n)
	}
}

// TestApplyKeepsSymlinksAndMetadata: a symlinked config stays a link and
// its target is written, keeping mode and line endings; a failed
// validation restores everything and removes the new drop-in.
func TestApplyKeepsSymlinksAndMetadata(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "etc/ssh/sshd_config.d"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "srv/config"), 0o755))
	target := filepath.Join(dir, "srv/config/sshd_config")
	must(os.WriteFile(target, []byte("Include /etc/ssh/sshd_config.d/*.conf\r\nClientAliveInterval 1\r\n"), 0o600))
	if os.Geteuid() == 0 {
		must(os.Chown(target, 1234, 4321))
	}
	// An absolute link target resolves inside the root.
	must(os.Symlink("/srv/config/sshd_config", filepath.Join(dir, "etc/ssh/sshd_config")))
	yaml := "version: 1\nsshd:\n  settings: {ClientAliveInterval: 300, ClientAliveCountMax: 2}\n"

	p, root := computeIn(t, dir, yaml)
	boom := errors.New("sshd: rejected")
	_, err := Apply(context.Background(), p, &fakeSystem{fs: openFS(t, root), validate: boom}, ApplyOptions{Log: zerolog.Nop()})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "Include /etc/ssh/sshd_config.d/*.conf\r\nClientAliveInterval 1\r\n" {
		t.Fatalf("not restored: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/ssh/sshd_config.d", DropInName)); !os.IsNotExist(err) {
		t.Fatalf("new drop-in left behind: %v", err)
	}

	p, root = computeIn(t, dir, yaml)
	if _, err := Apply(context.Background(), p, &fakeSystem{fs: openFS(t, root)}, ApplyOptions{Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Lstat(filepath.Join(dir, "etc/ssh/sshd_config")); err != nil || l.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("sshd_config is no longer a symlink: %v %v", l.Mode(), err)
	}
	b, _ := os.ReadFile(target)
	if string(b) != "Include /etc/ssh/sshd_config.d/*.conf\r\nClientAliveInterval 300\r\n" {
		t.Errorf("target = %q", b)
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o600 {
		t.Errorf("target mode %v, want 0600", st.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		st, _ := os.Stat(target)
		if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 1234 || sys.Gid != 4321 {
			t.Errorf("owner %d:%d, want 1234:4321", sys.Uid, sys.Gid)
		}
	}
	// The new drop-in copies the main file's mode.
	if st, err := os.Stat(filepath.Join(dir, "etc/ssh/sshd_config.d", DropInName)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("drop-in: %v %v", st, err)
	}
}

// TestApplyRefusesStaleFiles: a file that changed on disk after the plan
// was made is not overwritten.
func TestApplyRefusesStaleFiles(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "etc/ssh/sshd_config")
	if err := os.MkdirAll(filepath.Dir(main), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(main, []byte("ClientAliveInterval 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, root := computeIn(t, dir, "version: 1\nsshd:\n  settings: {ClientAliveInterval: 300}\n")
	if err := os.WriteFile(main, []byte("ClientAliveInterval 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Apply(context.Background(), p, &fakeSystem{fs: openFS(t, root)}, ApplyOptions{Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "changed on disk since it was read") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(main); string(b) != "ClientAliveInterval 2\n" {
		t.Fatalf("overwritten: %q", b)
	}
}

// TestApplySequence pins the order of System calls and what each failure
// undoes, with a recording fake.
func TestApplySequence(t *testing.T) {
	tree := map[string]string{
		"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nClientAliveInterval 1\n",
		"etc/ssh/ssh_config":  "Host x\n\tServerAliveInterval 1\n",
	}
	yaml := "version: 1\nsshd:\n  settings: {ClientAliveInterval: 300}\nssh:\n  hosts:\n    - host: x\n      settings: {ServerAliveInterval: 9}\n"
	const (
		sshd = "/etc/ssh/sshd_config"
		ssh  = "/etc/ssh/ssh_config"
	)
	boom := errors.New("boom")
	for _, tt := range []struct {
		name                       string
		validate, reload, write    error
		recorded                   bool // an earlier run left a pending reload
		calls                      []string
		pending, restored, written bool
		err                        error
	}{
		{name: "success", calls: []string{"validate", "write " + sshd, "write " + ssh, "reload"}, written: true},
		{name: "sshd refuses: nothing written", validate: boom, calls: []string{"validate"}, err: boom},
		{name: "sshd refuses: an earlier record stays", validate: boom, recorded: true, calls: []string{"validate"}, pending: true, err: boom},
		{name: "a write fails: undone, own record dropped", write: boom, calls: []string{"validate", "write " + sshd, "write " + ssh, "restore " + sshd}, restored: true, written: true, err: boom},
		{name: "reload fails: undone", reload: boom, calls: []string{"validate", "write " + sshd, "write " + ssh, "reload", "restore " + ssh, "restore " + sshd}, restored: true, written: true, err: boom},
		{name: "reload fails: an earlier record stays", reload: boom, recorded: true, calls: []string{"validate", "write " + sshd, "write " + ssh, "reload", "restore " + ssh, "restore " + sshd}, pending: true, restored: true, written: true, err: boom},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := (opensshtest.Tree{Files: tree}).Write(dir); err != nil {
				t.Fatal(err)
			}
			p, root := computeIn(t, dir, yaml)
			sys := &fakeSystem{fs: openFS(t, root), validate: tt.validate, reload: tt.reload, failWrite: map[string]error{ssh: tt.write}}
			state := OpenState(sys.fs, "/state")
			if err := state.SetReloadPending(tt.recorded); err != nil {
				t.Fatal(err)
			}
			before := stamps(t, filepath.Join(dir, "etc"))
			res, err := Apply(context.Background(), p, sys, ApplyOptions{State: state, Log: zerolog.Nop()})
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.calls, sys.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if pending, _ := state.ReloadPending(); pending != tt.pending || res.ReloadPending != tt.pending {
				t.Errorf("pending %v (result %v), want %v", pending, res.ReloadPending, tt.pending)
			}
			if res.Restored != tt.restored || res.Reloaded != (tt.err == nil) {
				t.Errorf("result %+v", res)
			}
			// A failed run leaves every file as it was; sshd's refusal
			// leaves even the mtimes.
			if after := stamps(t, filepath.Join(dir, "etc")); tt.err != nil && !tt.written && !maps.Equal(before, after) {
				t.Errorf("files touched:\n%v\n%v", before, after)
			}
			if tt.err != nil {
				for p, want := range tree {
					if b, _ := os.ReadFile(filepath.Join(dir, p)); string(b) != want {
						t.Errorf("%s = %q after a failed run, want %q", p, b, want)
					}
				}
			}
		})
	}
}

// TestApplyInterrupted: a cancelled context stops the writes and restores
// what was written.
func TestApplyInterrupted(t *testing.T) {
	dir := t.TempDir()
	tree := map[string]string{"etc/ssh/sshd_config": "ClientAliveInterval 1\n", "etc/ssh/ssh_config": "Host x\n\tServerAliveInterval 1\n"}
	if err := (opensshtest.Tree{Files: tree}).Write(dir); err != nil {
		t.Fatal(err)
	}
	p, root := computeIn(t, dir, "version: 1\nsshd:\n  settings: {ClientAliveInterval: 300}\nssh:\n  hosts:\n    - host: x\n      settings: {ServerAliveInterval: 9}\n")
	ctx, cancel := context.WithCancel(context.Background())
	sys := &cancellingSystem{fakeSystem: fakeSystem{fs: openFS(t, root)}, cancel: cancel}
	_, err := Apply(ctx, p, sys, ApplyOptions{Log: zerolog.Nop()})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if want := []string{"validate", "write /etc/ssh/sshd_config", "restore /etc/ssh/sshd_config"}; !slices.Equal(sys.calls, want) {
		t.Fatalf("calls %v, want %v", sys.calls, want)
	}
	for p, want := range tree {
		if b, _ := os.ReadFile(filepath.Join(dir, p)); string(b) != want {
			t.Errorf("%s = %q, want %q", p, b, want)
		}
	}
}

// cancellingSystem cancels the run's context after its first write, as a
// SIGTERM would.
type cancellingSystem struct {
	fakeSystem
	cancel func()
}

func (c *cancellingSystem) Write(ctx context.Context, f FileChange) error {
	defer c.cancel()
	return c.fakeSystem.Write(ctx, f)
}
