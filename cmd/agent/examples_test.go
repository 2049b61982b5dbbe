package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/sshconverge/agent/pkg/desired"
	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// The example desired files (examples/*.yaml) are audited and applied to
// the demo tree and to every distribution tree whose layout they apply
// to, and the real OpenSSH is asked whether their values hold.

// exampleDir is the repository's examples directory, from cmd/agent.
const exampleDir = "../../examples"

// demoRoot is the name the demo tree (examples/demo-root) has among the
// trees.
const demoRoot = "demo-root"

// exampleFiles are the examples checked here (keepalive.yaml has its
// tests in pkg/reconcile and the README).
var exampleFiles = []string{"hardening.yaml", "bastion.yaml", "client-fleet.yaml"}

// otherUser is a connection no desired Match block selects: global values
// must hold for it. backup is a system account on Debian, so Match Group
// criteria evaluate without an error for both; jumpUser is a member of
// group jump (the oracle adds the account in its namespace).
var (
	otherUser  = opensshtest.Conn{User: "nobody", Host: "client.example.org", Addr: "192.0.2.10"}
	backupUser = opensshtest.Conn{User: "backup", Host: "backup.example.org", Addr: "192.0.2.20"}
	jumpUser   = opensshtest.Conn{User: "jumper", Host: "laptop.example.org", Addr: "192.0.2.30", Groups: []string{"jump"}}
)

// exampleTree copies a tree for a test: the demo tree or a distribution
// tree (with its links and modes), with an ed25519 host key when it has
// none, since sshd -t checks every configuration the agent writes.
func exampleTree(t *testing.T, name string) string {
	t.Helper()
	var root string
	if name == demoRoot {
		root = t.TempDir()
		must(t, os.CopyFS(root, os.DirFS(filepath.Join(exampleDir, "demo-root"))))
	} else {
		root = opensshtest.CopyDistroTree(t, name)
	}
	keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*_key"))
	if len(keys) == 0 {
		must(t, os.MkdirAll(filepath.Join(root, "etc/ssh"), 0o755))
		makeHostKey(t, filepath.Join(root, "etc/ssh/ssh_host_ed25519_key"))
	}
	return root
}

// hasConfig reports whether the tree has the main configuration file of a
// side: etc/ssh/NAME, or openSUSE's vendor usr/etc/ssh/NAME.
func hasConfig(tree, name string) bool {
	var dir string
	if tree == demoRoot {
		dir = filepath.Join(exampleDir, "demo-root")
	} else {
		dir = distroSource(tree)
	}
	for _, p := range []string{"etc/ssh/" + name, "usr/etc/ssh/" + name} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			return true
		}
	}
	return false
}

// distroSource is the directory of a distribution tree in the fixtures.
func distroSource(name string) string {
	base := filepath.Join("..", "..", "pkg", "files", "testdata", "distro")
	if _, err := os.Stat(filepath.Join(base, name)); err == nil {
		return filepath.Join(base, name)
	}
	return filepath.Join(base, "_variants", name)
}

// loadExample reads an example and writes it where the agent accepts it
// (a root-owned directory only root can write), returning its path and
// its parsed state.
func loadExample(t *testing.T, name string, src []byte) (string, *desired.State) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	must(t, os.WriteFile(p, src, 0o644))
	st, err := desired.Parse(p, src)
	if err != nil {
		t.Fatal(err)
	}
	return p, st
}

// runExample runs the agent on root with the desired file d and args, and
// checks that its JSON report conforms to the schema.
func runExample(t *testing.T, root, d string, args ...string) (int, map[string]any, string) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append(append([]string{"--format", "json", "--root", root}, args...), d)
	code := Run(context.Background(), args, &out, &errb)
	checkReport(t, out.String())
	var report map[string]any
	if err := json.Unmarshal(out.Bytes(), &report); err != nil {
		t.Fatalf("sshconverge %s: exit %d, no JSON report: %v\n%s", strings.Join(args, " "), code, err, errb.String())
	}
	return code, report, errb.String()
}

// reportError returns the report's error message ("" when it has none).
func reportError(report map[string]any) string {
	e, _ := report["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

// convergeExample audits, applies and audits again: the first audit finds drift
// or nothing (exit 2 or 0), the apply succeeds (exit 0) and the second
// audit is in sync (exit 0).
func convergeExample(t *testing.T, root, d string) {
	t.Helper()
	code, report, stderr := runExample(t, root, d, "--check")
	if code != exitOK && code != exitDrift {
		t.Fatalf("--check: exit %d, want 0 or 2: %s\n%s", code, reportError(report), stderr)
	}
	t.Logf("--check: exit %d (%v)", code, report["summary"])
	if code, report, stderr = runExample(t, root, d, "--reload", "none"); code != exitOK || report["in_sync"] != true {
		t.Fatalf("apply: exit %d, in_sync %v: %s\n%s", code, report["in_sync"], reportError(report), stderr)
	}
	if code, report, stderr = runExample(t, root, d, "--check"); code != exitOK || report["in_sync"] != true {
		t.Fatalf("--check after the apply: exit %d, in_sync %v: %s\n%s", code, report["in_sync"], reportError(report), stderr)
	}
}

// wantServer returns the sshd -T values the example asks for conn: the
// global settings, overridden by those of the blocks that select it
// (named by selects).
func wantServer(st *desired.State, selects func(criteria string) bool) map[string]string {
	want := map[string]string{}
	for _, s := range st.Server.Settings {
		want[strings.ToLower(s.Keyword.Name)] = strings.Join(s.Normal, " ")
	}
	for _, b := range st.Server.Blocks {
		if selects(b.Scope.Match) {
			for _, s := range b.Settings {
				want[strings.ToLower(s.Keyword.Name)] = strings.Join(s.Normal, " ")
			}
		}
	}
	return want
}

// compareDump reports every wanted value the dump does not have (its
// first value, for keywords OpenSSH prints once per value).
func compareDump(t *testing.T, what, version string, d opensshtest.Dump, want map[string]string) {
	t.Helper()
	for kw, v := range want {
		got := d[kw]
		if dev, ok := versionDeviations[version][kw]; ok && dev != v {
			if len(got) == 0 || got[0] != dev {
				t.Errorf("%s: %s is %q, not %q as versionDeviations says (fixed? then remove the entry)", what, kw, got, dev)
			}
			continue
		}
		if len(got) == 0 || got[0] != v {
			t.Errorf("%s: %s is %q, want %q", what, kw, got, v)
		}
	}
}

// checkServer asks sshd -T (with no -C, and with -C for a connection no
// block selects, for user backup and for a member of group jump) whether
// the example's values hold.
func checkServer(t *testing.T, o *opensshtest.Oracle, root string, st *desired.State) {
	t.Helper()
	conns := []opensshtest.Conn{{}, otherUser, backupUser, jumpUser}
	dumps, err := o.ServerT(root, conns)
	if err != nil {
		t.Fatalf("sshd -T: %v", err)
	}
	for i, c := range conns {
		want := wantServer(st, func(criteria string) bool {
			return criteria == "User backup" && c.User == "backup" || criteria == "Group jump" && slices.Contains(c.Groups, "jump")
		})
		compareDump(t, fmt.Sprintf("sshd -T %s (OpenSSH %s)", c, o.Install().Version), o.Install().Version, dumps[i], want)
	}
}

// probeHost is a name a Host pattern list selects: its first pattern
// with web1 for each *.
func probeHost(patterns string) string {
	return strings.ReplaceAll(strings.Fields(patterns)[0], "*", "web1")
}

// checkClient asks ssh -G, for a host of each Host block, whether the
// example's values hold.
func checkClient(t *testing.T, o *opensshtest.Oracle, root string, st *desired.State) {
	t.Helper()
	var hosts []string
	for _, b := range st.Client.Blocks {
		hosts = append(hosts, probeHost(b.Scope.Host))
	}
	dumps, err := o.ClientG(root, hosts)
	if err != nil {
		t.Fatalf("ssh -G: %v", err)
	}
	for i, b := range st.Client.Blocks {
		want := map[string]string{}
		for _, s := range b.Settings {
			want[strings.ToLower(s.Keyword.Name)] = strings.Join(s.Normal, " ")
		}
		compareDump(t, fmt.Sprintf("ssh -G %s (OpenSSH %s)", hosts[i], o.Install().Version), o.Install().Version, dumps[i], want)
	}
}

// mapValue returns the value of key in a YAML mapping node (nil if none).
func mapValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; n != nil && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// exampleTrees returns the trees an example side applies to, and those
// it does not (they have no such configuration file).
func exampleTrees(config string) (trees, skipped []string) {
	for _, tree := range append([]string{demoRoot}, opensshtest.DistroTrees()...) {
		if hasConfig(tree, config) {
			trees = append(trees, tree)
		} else {
			skipped = append(skipped, tree)
		}
	}
	return trees, skipped
}

// knownConflict is a desired key the agent reports in conflict on a tree
// (status conflict, with this reason), so that the example cannot be
// applied there as it stands.
type knownConflict struct{ scope, keyword, reason string }

// clientLargeIdentityFile is a real conflict: client-large's main file
// ends with a `Host *` block that adds three IdentityFile lines, and
// IdentityFile adds up across blocks, so ssh offers those keys too
// whatever a Host block before it says (IdentitiesOnly does not remove
// them); only changing the defaults every other host gets would make the
// fleet key the only one, and the agent's hint says so.
func clientLargeIdentityFile() []knownConflict {
	var cs []knownConflict
	for h, line := range map[string]int{"bastion": 333, "*.prod.example.net": 337, "*.staging.example.net": 345} {
		cs = append(cs, knownConflict{"Host " + h, "IdentityFile", fmt.Sprintf("IdentityFile for Host %s cannot take effect: /etc/ssh/ssh_config:%d wins "+
			"(it sets ~/.ssh/id_ed25519 ~/.ssh/id_ecdsa ~/.ssh/keys/%%u@%%l_ed25519, and changing it would change what other hosts get; "+
			"IdentityFile lines add up wherever they sit, so remove that line or set it only for the hosts that need it)", h, line)})
	}
	return cs
}

// knownConflicts lists, per example and tree, the conflicts the audit
// reports today. The test asserts them exactly, then converges the rest
// of the example without those keys.
var knownConflicts = map[string]map[string][]knownConflict{
	"client-fleet.yaml": {
		"client-large": clientLargeIdentityFile(),
	},
}

// sshdRejects are the trees, by the configuration an example edits, that
// no example can converge here because the sshd the agent checks with
// rejects them as they stand, with these lines: the agent refuses (exit
// 1, nothing written) in --check ("sshd rejects the configuration as it
// stands") and apply ("sshd rejects the new configuration").
//
// rocky9-stig's ComplianceAsCode drop-in sets KerberosUseKuserok and
// GSSAPIEnablek5users, keywords only Red Hat's sshd has. The tree has no
// sshd of its own, so the agent checks with the host's, Debian 12's 9.2,
// which does not know them. On a Red Hat host, checked with its own sshd,
// the tree would load (the agent leaves Red Hat's keywords untouched).
// sshd ends its lines with CR LF on stderr; the agent's message has the
// lines without the CR (in the JSON report's error message too).
var sshdRejects = map[string]map[string]string{
	"sshd_config": {
		"rocky9-stig": "/etc/ssh/sshd_config.d/00-complianceascode-hardening.conf: line 9: Bad configuration option: KerberosUseKuserok\n" +
			"/etc/ssh/sshd_config.d/00-complianceascode-hardening.conf: line 10: Bad configuration option: GSSAPIEnablek5users\n" +
			"/etc/ssh/sshd_config.d/00-complianceascode-hardening.conf: terminating, 2 bad configuration options",
	},
}

// TestExamples: each example converges on each tree it applies to, and the
// real OpenSSH (the host's) uses its values afterwards.
// Where the audit reports conflicts (knownConflicts), the test asserts
// them and converges the example without those keys.
func TestExamples(t *testing.T) {
	needTools(t, "/usr/sbin/sshd", "ssh-keygen", "unshare")
	o := opensshtest.New(t)
	for _, name := range exampleFiles {
		src, err := os.ReadFile(filepath.Join(exampleDir, name))
		must(t, err)
		st, err := desired.Parse(name, src)
		must(t, err)
		config := "sshd_config"
		if st.Server == nil {
			config = "ssh_config"
		}
		trees, skipped := exampleTrees(config)
		t.Logf("%s: not for the trees without %s: %v", name, config, skipped)
		for _, tree := range trees {
			t.Run(name+"/"+tree, func(t *testing.T) {
				root := exampleTree(t, tree)
				apply := src
				if lines, ok := sshdRejects[config][tree]; ok {
					d, _ := loadExample(t, name, apply)
					assertRefused(t, root, d, "sshd rejects the configuration as it stands:\n"+lines,
						"sshd rejects the new configuration, so nothing was written and sshd was not reloaded:\n"+lines)
					return
				}
				if cs := knownConflicts[name][tree]; cs != nil {
					assertConflicts(t, root, apply, cs)
					apply = withoutConflicts(t, apply, cs)
				}
				d, st := loadExample(t, name, apply)
				convergeExample(t, root, d)
				view := oracleView(t, root)
				if st.Server != nil {
					checkServer(t, o, view, st)
				} else {
					checkClient(t, o, view, st)
				}
			})
		}
	}
}

// assertRefused checks that the agent refuses the desired file d on root,
// with the error check in --check and apply in an apply (exit 1 both),
// and writes nothing.
func assertRefused(t *testing.T, root, d, check, apply string) {
	t.Helper()
	for args, want := range map[string]string{"--check": check, "--reload=none": apply} {
		code, report, _ := runExample(t, root, d, args)
		if msg := reportError(report); code != exitError || msg != want {
			t.Fatalf("%v: exit %d, error:\n%q\nwant exit 1 and:\n%q", args, code, msg, want)
		}
		if report["written"] != nil {
			t.Fatalf("%v: wrote %v", args, report["written"])
		}
	}
}

// assertConflicts checks that the audit of src reports exactly the
// conflicts cs (exit 2) and that the apply refuses it (exit 1, nothing
// written).
func assertConflicts(t *testing.T, root string, src []byte, cs []knownConflict) {
	t.Helper()
	d, _ := loadExample(t, "conflicts.yaml", src)
	code, report, _ := runExample(t, root, d, "--check")
	var got []knownConflict
	results, _ := report["results"].([]any)
	for _, r := range results {
		if r := r.(map[string]any); r["status"] == "conflict" {
			got = append(got, knownConflict{r["scope"].(string), r["keyword"].(string), r["reason"].(string)})
		}
	}
	byKey := func(a, b knownConflict) int { return strings.Compare(a.scope+" "+a.keyword, b.scope+" "+b.keyword) }
	want := slices.SortedFunc(slices.Values(cs), byKey)
	slices.SortFunc(got, byKey)
	if code != exitDrift || !slices.Equal(got, want) {
		t.Fatalf("--check: exit %d, conflicts:\n%v\nwant exit 2 and:\n%v", code, got, want)
	}
	code, report, _ = runExample(t, root, d, "--reload", "none")
	wantMsg := fmt.Sprintf("nothing written: %d desired value(s) would not take effect", len(cs))
	if code != exitError || !strings.HasPrefix(reportError(report), wantMsg) || report["written"] != nil {
		t.Fatalf("apply: exit %d, written %v, error %q; want exit 1, nothing written, %q", code, report["written"], reportError(report), wantMsg)
	}
}

// withoutConflicts returns src without the settings cs names.
func withoutConflicts(t *testing.T, src []byte, cs []knownConflict) []byte {
	t.Helper()
	var doc yaml.Node
	must(t, yaml.Unmarshal(src, &doc))
	for _, c := range cs {
		settings := blockSettings(doc.Content[0], c.scope)
		if settings == nil {
			t.Fatalf("the example has no block %q", c.scope)
		}
		n := len(settings.Content)
		for i := 0; i+1 < len(settings.Content); i += 2 {
			if settings.Content[i].Value == c.keyword {
				settings.Content = slices.Delete(settings.Content, i, i+2)
				break
			}
		}
		if len(settings.Content) == n {
			t.Fatalf("the example's %s has no %s", c.scope, c.keyword)
		}
	}
	out, err := yaml.Marshal(&doc)
	must(t, err)
	return out
}

// blockSettings returns the settings mapping of the desired block named
// by scope ("global", "Match …" or "Host …").
func blockSettings(top *yaml.Node, scope string) *yaml.Node {
	side, blocks, key, name := "sshd", "match", "criteria", strings.TrimPrefix(scope, "Match ")
	if h, ok := strings.CutPrefix(scope, "Host "); ok {
		side, blocks, key, name = "ssh", "hosts", "host", h
	}
	if scope == "global" {
		return mapValue(mapValue(top, "sshd"), "settings")
	}
	list := mapValue(mapValue(top, side), blocks)
	for i := 0; list != nil && i < len(list.Content); i++ {
		if v := mapValue(list.Content[i], key); v != nil && v.Value == name {
			return mapValue(list.Content[i], "settings")
		}
	}
	return nil
}

// oracleView returns the tree as the OpenSSH of its own distribution sees
// it, for the oracle (the host's OpenSSH, which reads only etc/ssh): the
// tree itself, except on openSUSE's layout, where sshd and ssh read the
// vendor file usr/etc/ssh/NAME when etc/ssh/NAME does not exist (a SUSE
// patch Debian's OpenSSH lacks). There, a copy has the vendor files under
// etc/ssh; their Include of usr/etc/ssh's drop-in directories would find
// nothing in the copy, so those directories must have no drop-ins.
func oracleView(t *testing.T, root string) string {
	t.Helper()
	var vendor []string
	for _, name := range []string{"sshd_config", "ssh_config"} {
		_, errEtc := os.Stat(filepath.Join(root, "etc/ssh", name))
		if _, err := os.Stat(filepath.Join(root, "usr/etc/ssh", name)); err == nil && os.IsNotExist(errEtc) {
			vendor = append(vendor, name)
		}
	}
	if len(vendor) == 0 {
		return root
	}
	view := t.TempDir()
	must(t, os.CopyFS(filepath.Join(view, "etc/ssh"), os.DirFS(filepath.Join(root, "etc/ssh"))))
	for _, name := range vendor {
		if confs, _ := filepath.Glob(filepath.Join(root, "usr/etc/ssh", name+".d", "*.conf")); len(confs) > 0 {
			t.Fatalf("the oracle cannot show the vendor drop-ins %v", confs)
		}
		b, err := os.ReadFile(filepath.Join(root, "usr/etc/ssh", name))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(view, "etc/ssh", name), b, 0o644))
	}
	return view
}

// versionDeviations are the values an OpenSSH version uses instead of an
// example's, by version and sshd -T keyword, with what it prints.
//
// OpenSSH before 8.7 takes keyboard-interactive authentication from
// ChallengeResponseAuthentication (default yes), which turns
// KbdInteractiveAuthentication back on whatever it says; 8.7 made
// ChallengeResponseAuthentication an alias of KbdInteractiveAuthentication.
// So on 8.4 the examples' KbdInteractiveAuthentication no does not hold
// (sshd -T says yes). The agent knows it: an audit for 8.4 reports that
// key in conflict (kbdInteractive84). A desired file for 8.4 alone can ask
// for ChallengeResponseAuthentication no first and then
// KbdInteractiveAuthentication no; a file for 8.4 and later releases
// cannot (from 8.7 on that is one keyword set twice). Debian 11's own
// sshd_config says ChallengeResponseAuthentication no for this reason.
var versionDeviations = map[string]map[string]string{
	"8.4p1": {"kbdinteractiveauthentication": "yes"},
}

// kbdInteractive84 is what an audit for OpenSSH 8.4 of the demo tree,
// once an example with KbdInteractiveAuthentication no is applied, says
// about that key (see versionDeviations): the cause, and the fix.
const kbdInteractive84 = "KbdInteractiveAuthentication for global cannot take effect: OpenSSH 8.4p1 turns keyboard-interactive authentication on " +
	"while ChallengeResponseAuthentication is yes (its default); set ChallengeResponseAuthentication no as well, before this key"

// assertAudit84 checks that an audit for OpenSSH 8.4 reports exactly
// kbdInteractive84 when the example sets KbdInteractiveAuthentication, and
// nothing out of line otherwise.
func assertAudit84(t *testing.T, root, d string, st *desired.State) {
	t.Helper()
	var want []knownConflict
	if st.Server != nil && slices.ContainsFunc(st.Server.Settings, func(s desired.Setting) bool { return s.Keyword.Name == "KbdInteractiveAuthentication" }) {
		want = append(want, knownConflict{"global", "KbdInteractiveAuthentication", kbdInteractive84})
	}
	code, report, stderr := runExample(t, root, d, "--check", "--openssh-version", "8.4p1")
	var got []knownConflict
	results, _ := report["results"].([]any)
	for _, r := range results {
		if r := r.(map[string]any); r["status"] != "ok" {
			reason, _ := r["reason"].(string)
			got = append(got, knownConflict{r["scope"].(string), r["keyword"].(string), reason})
		}
	}
	wantCode := exitOK
	if len(want) > 0 {
		wantCode = exitDrift
	}
	if code != wantCode || !slices.Equal(got, want) {
		t.Errorf("--check --openssh-version 8.4p1: exit %d, not ok:\n%q\nwant exit %d and:\n%q\n%s", code, got, wantCode, want, stderr)
	}
}

// TestExamplesAcrossVersions: on the demo tree, every OpenSSH the tests
// can ask (8.4p1 to 10.6p1, in chroots) accepts what each example wrote
// and uses its values (but for versionDeviations): the algorithm lists of
// hardening.yaml name nothing an older sshd does not know.
func TestExamplesAcrossVersions(t *testing.T) {
	needTools(t, "/usr/sbin/sshd", "ssh-keygen", "unshare")
	installs := opensshtest.Installs(t)
	for _, name := range exampleFiles {
		src, err := os.ReadFile(filepath.Join(exampleDir, name))
		must(t, err)
		t.Run(name, func(t *testing.T) {
			root := exampleTree(t, demoRoot)
			d, st := loadExample(t, name, src)
			convergeExample(t, root, d)
			assertAudit84(t, root, d, st)
			for _, in := range installs {
				o := opensshtest.NewFor(t, in)
				if st.Server != nil {
					if err := o.ServerCheck(root); err != nil {
						t.Errorf("OpenSSH %s rejects the configuration: %v", in.Version, err)
						continue
					}
					checkServer(t, o, root, st)
				} else {
					checkClient(t, o, root, st)
				}
			}
		})
	}
}
