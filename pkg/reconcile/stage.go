package reconcile

import (
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/sshconverge/agent/pkg/files"
)

// stage holds the new content of a plan's files on the host, in a private
// directory, for a view to bind over the paths the files will have: a
// changed file is bound alone; a directory that gains a file is bound as a
// staged copy of itself.
type stage struct {
	dir   string     // the private directory (mode 0700), removed by close
	binds []viewBind // the staged files and directories, open, and their targets
}

// newStage stages changes. target maps a configuration path to the path
// to bind over in the view (before any chroot).
func newStage(root *files.Root, changes []FileChange, target func(string) (string, error)) (st *stage, err error) {
	if len(changes) == 0 {
		return &stage{}, nil // sshd reads the files as they stand: no directory to make
	}
	dir, err := os.MkdirTemp(stageParent(), "sshconverge-stage-")
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	st = &stage{dir: dir}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	// A directory that gains a file is staged whole, with every change
	// made in it; other changed files are staged alone.
	gains := map[string]bool{}
	for _, c := range changes {
		if c.New {
			gains[path.Dir(c.Path)] = true
		}
	}
	byDir := map[string][]FileChange{}
	var dirs []string
	for _, c := range changes {
		d := path.Dir(c.Path)
		if !gains[d] {
			if err := st.addFile(c, target); err != nil {
				return nil, err
			}
			continue
		}
		if byDir[d] == nil {
			dirs = append(dirs, d)
		}
		byDir[d] = append(byDir[d], c)
	}
	for _, d := range dirs {
		if err := st.addDir(root, d, byDir[d], target); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// stageParent is where stages are made: /run (a tmpfs) when it exists.
func stageParent() string {
	if st, err := os.Stat("/run"); err == nil && st.IsDir() {
		return "/run"
	}
	return "/tmp"
}

// addFile stages one changed file.
func (st *stage) addFile(c FileChange, target func(string) (string, error)) error {
	t, err := target(c.Path)
	if err != nil {
		return err
	}
	p := filepath.Join(st.dir, fmt.Sprintf("f%d", len(st.binds)))
	if err := os.WriteFile(p, c.After(), 0o600); err != nil {
		return fmt.Errorf("staging %s: %w", c.Path, err)
	}
	return st.add(p, t)
}

// addDir stages a copy of directory d (a configuration path) with the
// changes cs (new files among them) made in it.
func (st *stage) addDir(root *files.Root, d string, cs []FileChange, target func(string) (string, error)) error {
	t, err := target(d)
	if err != nil {
		return err
	}
	copyDir := filepath.Join(st.dir, fmt.Sprintf("d%d", len(st.binds)))
	if err := os.Mkdir(copyDir, 0o755); err != nil {
		return err
	}
	if err := copyRegularFiles(root, d, copyDir); err != nil {
		return fmt.Errorf("staging %s: %w", d, err)
	}
	for _, c := range cs {
		if err := os.WriteFile(filepath.Join(copyDir, path.Base(c.Path)), c.After(), 0o644); err != nil {
			return fmt.Errorf("staging %s: %w", c.Path, err)
		}
	}
	return st.add(copyDir, t)
}

// copyRegularFiles copies the regular files of the configuration
// directory d under root into dst (what an Include glob can read there).
func copyRegularFiles(root *files.Root, d, dst string) error {
	resolved, err := root.Resolve(d)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(root.HostPath(resolved))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := root.ReadFile(path.Join(resolved, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// add opens the staged path p for the view and binds it over target.
func (st *stage) add(p, target string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	st.binds = append(st.binds, viewBind{File: f, Target: target})
	return nil
}

// close releases the descriptors and removes the staged copies.
func (st *stage) close() {
	for _, b := range st.binds {
		b.File.Close()
	}
	if st.dir != "" {
		os.RemoveAll(st.dir)
	}
}
