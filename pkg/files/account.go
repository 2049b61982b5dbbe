package files

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ProbeAccount returns copies of a password file and a group file (their
// contents, in the passwd(5) and group(5) formats) in which conn's user
// exists and is a member of each of conn's groups: what `sshd -T -C
// user=...` needs to evaluate a Match Group block for a connection the
// model stands for. A user or group the files lack is added with an id no
// line uses; an existing user keeps its other groups (a negated pattern
// may still exclude it, as it would for a real login).
func ProbeAccount(passwd, group []byte, conn Conn) (newPasswd, newGroup []byte, err error) {
	if err := checkProbeConn(conn); err != nil {
		return nil, nil, err
	}
	users, groups := parseColonFile(passwd), parseColonFile(group)
	gids := make(map[string]string, len(groups))
	for _, f := range groups {
		if len(f) > 2 {
			gids[f[0]] = f[2]
		}
	}
	usedGID, usedUID := usedIDs(groups), usedIDs(users)
	for _, g := range conn.Groups {
		if _, ok := gids[g]; !ok {
			gids[g] = freeID(usedGID)
			groups = append(groups, []string{g, "x", gids[g], ""})
		}
	}
	for _, f := range groups {
		if len(f) == 4 && slices.Contains(conn.Groups, f[0]) && !slices.Contains(strings.Split(f[3], ","), conn.User) {
			f[3] = strings.TrimPrefix(f[3]+","+conn.User, ",")
		}
	}
	if !slices.ContainsFunc(users, func(f []string) bool { return f[0] == conn.User }) {
		users = append(users, []string{conn.User, "x", freeID(usedUID), gids[conn.Groups[0]], "", "/nonexistent", "/usr/sbin/nologin"})
	}
	return joinColonFile(users), joinColonFile(groups), nil
}

// checkProbeConn refuses a probe connection whose user or groups cannot be
// written into passwd and group, or that names no group.
func checkProbeConn(conn Conn) error {
	if err := checkAccountName(conn.User); err != nil {
		return err
	}
	if len(conn.Groups) == 0 {
		return fmt.Errorf("no group to make %s a member of", conn.User)
	}
	for _, g := range conn.Groups {
		if err := checkAccountName(g); err != nil {
			return err
		}
	}
	return nil
}

// usedIDs returns the set of ids (third field) the lines of a passwd- or
// group-style file use.
func usedIDs(lines [][]string) map[string]bool {
	used := make(map[string]bool, len(lines))
	for _, f := range lines {
		if len(f) > 2 {
			used[f[2]] = true
		}
	}
	return used
}

// freeID returns the first id from 60000 on that used lacks, and marks it
// used.
func freeID(used map[string]bool) string {
	id := 60000
	for used[strconv.Itoa(id)] {
		id++
	}
	used[strconv.Itoa(id)] = true
	return strconv.Itoa(id)
}

// checkAccountName refuses a name that cannot stand in passwd or group.
func checkAccountName(name string) error {
	if name == "" || strings.ContainsAny(name, ":,\n\x00") {
		return fmt.Errorf("%q cannot be an account or group name", name)
	}
	return nil
}

// parseColonFile splits a passwd- or group-style file into its fields,
// skipping blank lines and comments.
func parseColonFile(b []byte) [][]string {
	var out [][]string
	for line := range bytes.Lines(b) {
		s := strings.TrimRight(string(line), "\r\n")
		if s == "" || s[0] == '#' {
			continue
		}
		out = append(out, strings.Split(s, ":"))
	}
	return out
}

// joinColonFile is the inverse of parseColonFile.
func joinColonFile(lines [][]string) []byte {
	var b bytes.Buffer
	for _, f := range lines {
		b.WriteString(strings.Join(f, ":"))
		b.WriteByte('\n')
	}
	return b.Bytes()
}
