package reliability_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fsScript mounts a file system at $1/$5 inside the namespace (mode
// "full": a tmpfs of 64 KiB, filled up; "ro": a read-only bind mount of
// the directory itself), runs the agent ($2) on the tree $1 with the
// desired file $3, writes its exit code, stdout and stderr under $4, and
// copies what the mounted directory holds afterwards to $4/after (a tmpfs
// vanishes with the namespace).
const fsScript = `set -u
tree=$1 agent=$2 desired=$3 out=$4 target=$5 mode=$6
dir="$tree/$target"
case $mode in
full)
	mkdir -p "$out/orig" && cp -a "$dir/." "$out/orig/" || exit 90
	mount -t tmpfs -o size=64k,mode=0755 sshconverge-reliability "$dir" || exit 91
	cp -a "$out/orig/." "$dir/" || exit 92
	# Fill it: whole pages first, then what a page can still take.
	dd if=/dev/zero of="$dir/zz-filler" bs=4096 2>/dev/null
	dd if=/dev/zero of="$dir/zz-filler2" bs=1 2>/dev/null
	;;
ro)
	mount --bind "$dir" "$dir" && mount -o remount,bind,ro "$dir" || exit 93
	;;
esac
"$agent" --root "$tree" --reload signal --lock-timeout 5s "$desired" >"$out/stdout" 2>"$out/stderr"
echo $? >"$out/rc"
if [ "$mode" = full ]; then
	rm -f "$dir/zz-filler" "$dir/zz-filler2"
	mkdir -p "$out/after" && cp -a "$dir/." "$out/after/" || exit 94
fi
`

// TestFileSystemFailures runs an apply of the small tree when the
// configuration directory, the state directory or the whole tree is
// full or read-only. Each time: exit 1, an error that names the problem,
// every original byte for byte, no new file and no temp file.
func TestFileSystemFailures(t *testing.T) {
	needRoot(t, "unshare", "mount", "dd", "cp")
	cases := []struct {
		name, target, mode string
		want               []string // in stderr, each
	}{
		{"config dir full", "etc/ssh", "full", []string{"no space left on device"}},
		{"state dir full", "var/lib/sshconverge", "full", []string{"no space left on device", "state"}},
		{"config dir read-only", "etc/ssh", "ro", []string{"read-only file system"}},
		{"state dir read-only (unwritable)", "var/lib/sshconverge", "ro", []string{"read-only file system", "state"}},
		{"whole tree read-only", ".", "ro", []string{"read-only file system"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := smallTree(t)
			must(t, os.MkdirAll(filepath.Join(root, "var/lib/sshconverge"), 0o700))
			before := snapshot(t, filepath.Join(root, "etc/ssh"))
			out := t.TempDir()
			start := time.Now()
			msg, err := nsScript(t, 2*time.Minute, fsScript, root, agentBin(t), writeDesired(t, smallDesired), out, c.target, c.mode)
			if err != nil {
				t.Fatalf("namespace script: %v\n%s", err, msg)
			}
			rcB, _ := os.ReadFile(filepath.Join(out, "rc"))
			stderr, _ := os.ReadFile(filepath.Join(out, "stderr"))
			rc, _ := strconv.Atoi(strings.TrimSpace(string(rcB)))
			t.Logf("exit %d after %v; stderr:\n%s", rc, time.Since(start).Round(time.Millisecond), clip(string(stderr)))
			if rc != 1 {
				t.Errorf("exit %d, want 1", rc)
			}
			for _, w := range c.want {
				if !strings.Contains(strings.ToLower(string(stderr)), w) {
					t.Errorf("stderr does not say %q", w)
				}
			}
			after := snapshot(t, filepath.Join(root, "etc/ssh"))
			if c.mode == "full" && c.target == "etc/ssh" {
				after = snapshot(t, filepath.Join(out, "after"))
				// cp -a gives the copy's top directory the tmpfs root's mode.
				after["."] = before["."]
			}
			if d := diffSnapshots(before, after); len(d) > 0 {
				t.Errorf("the configuration changed:\n%s", strings.Join(d, "\n"))
			}
			if tmp := tempFiles(t, root); len(tmp) > 0 {
				t.Errorf("temp files left: %v", tmp)
			}
			if c.mode == "full" && c.target != "etc/ssh" {
				if tmp := tempFiles(t, filepath.Join(out, "after")); len(tmp) > 0 {
					t.Errorf("temp files left in the full directory: %v", tmp)
				}
			}
		})
	}
}
