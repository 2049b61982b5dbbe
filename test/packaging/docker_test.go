package packaging_test

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerStage is one FROM … AS name stage of the Dockerfile.
type dockerStage struct {
	from, name string
	args       map[string]string // ARG defaults
	runs       []string          // RUN commands, continuation lines joined
	copies     []string
	entrypoint string
}

// parseDockerfile reads the instructions this test needs.
func parseDockerfile(t *testing.T) []*dockerStage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	mustDo(t, err)
	var stages []*dockerStage
	var logical []string
	cur := ""
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		cur += line
		if strings.TrimSpace(cur) != "" {
			logical = append(logical, strings.TrimSpace(cur))
		}
		cur = ""
	}
	for _, l := range logical {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			f := strings.Fields(rest)
			st := &dockerStage{from: f[0], args: map[string]string{}}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			stages[len(stages)-1].args[k] = v
		case "RUN":
			// BuildKit flags (--mount=…) come first; the shell command follows.
			for strings.HasPrefix(rest, "--") {
				_, rest, _ = strings.Cut(rest, " ")
				rest = strings.TrimSpace(rest)
			}
			stages[len(stages)-1].runs = append(stages[len(stages)-1].runs, rest)
		case "COPY":
			stages[len(stages)-1].copies = append(stages[len(stages)-1].copies, rest)
		case "ENTRYPOINT":
			stages[len(stages)-1].entrypoint = rest
		}
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stages, want a build stage and a final one", len(stages))
	}
	return stages
}

// TestDockerfileBuild runs the build stage's go build command here, as
// docker would run it in the build stage (WORKDIR /src holds this tree,
// the ARGs are build arguments), with the output path /out/ moved to a
// temp dir, and checks the binary: static, and stamped with the build
// arguments. It also checks that the final stage copies that very file
// and runs it. No Docker engine is needed.
func TestDockerfileBuild(t *testing.T) {
	stages := parseDockerfile(t)
	build, final := stages[0], stages[len(stages)-1]
	var goBuild string
	for _, r := range build.runs {
		if strings.Contains(r, "go build") {
			if goBuild != "" {
				t.Fatalf("two go build commands in the build stage")
			}
			goBuild = r
		}
	}
	if goBuild == "" {
		t.Fatalf("the build stage has no RUN … go build")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "-X main.commit=${COMMIT}", "-X main.date=${DATE}", "./cmd/agent"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("go build command lacks %q: %s", want, goBuild)
		}
	}
	for _, a := range []string{"VERSION", "COMMIT", "DATE"} {
		if _, ok := build.args[a]; !ok {
			t.Errorf("the build stage declares no ARG %s", a)
		}
	}
	m := regexp.MustCompile(`-o (/\S+)`).FindStringSubmatch(goBuild)
	if m == nil {
		t.Fatalf("go build command has no absolute -o: %s", goBuild)
	}
	output := m[1]
	if want := "--from=" + build.name + " " + output + " /usr/bin/sshconverge"; !contains(final.copies, want) {
		t.Errorf("the final stage does not COPY %s; it has %v", want, final.copies)
	}
	if final.entrypoint != `["/usr/bin/sshconverge"]` {
		t.Errorf("ENTRYPOINT %s, want [\"/usr/bin/sshconverge\"]", final.entrypoint)
	}
	if len(final.runs) != 0 {
		t.Errorf("the final stage runs %v; it should only receive the binary", final.runs)
	}

	need(t, "sh")
	dir := t.TempDir()
	bin := filepath.Join(dir, filepath.Base(output))
	command := strings.Replace(goBuild, "-o "+output, "-o "+bin, 1)
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "VERSION="+stampVersion, "COMMIT="+stampCommit, "DATE="+stampDate,
		"PATH="+filepath.Dir(goTool(t))+":"+os.Getenv("PATH"))
	if code, out := run(t, cmd); code != 0 {
		t.Fatalf("%s: exit %d\n%s", command, code, out)
	}
	checkStatic(t, bin)
	checkVersion(t, bin, stampVersion, stampCommit, stampDate)
}

// checkStatic fails unless bin is an ELF executable with no interpreter
// and no shared libraries.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: not static", bin, p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs %v", bin, libs)
	}
	if out, err := exec.Command("file", "-b", bin).Output(); err == nil {
		t.Logf("file: %s", strings.TrimSpace(string(out)))
		if !strings.Contains(string(out), "statically linked") {
			t.Errorf("file(1) says %s", out)
		}
	}
}

// checkVersion runs bin version and wants each stamped value (version,
// commit, date) in what it prints.
func checkVersion(t *testing.T, bin string, stamps ...string) {
	t.Helper()
	code, out := run(t, exec.Command(bin, "version"))
	if code != 0 {
		t.Fatalf("%s version: exit %d\n%s", bin, code, out)
	}
	for _, want := range stamps {
		if !strings.Contains(out, want) {
			t.Errorf("%s version prints %q, want %q in it", bin, strings.TrimSpace(out), want)
		}
	}
}
