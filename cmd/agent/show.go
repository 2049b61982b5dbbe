package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"strings"
	"text/tabwriter"

	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/files"
	"github.com/sshconverge/agent/pkg/reconcile"
)

// shownValue is one line of "show" output.
type shownValue struct {
	Keyword string   `json:"keyword"`
	Value   []string `json:"value"`
	Origin  string   `json:"origin"`
	Origins []string `json:"origins,omitempty"`
}

func runShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := parseShowArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		return runHelp([]string{"show"}, stdout)
	}
	if err != nil {
		return err
	}
	catchInterrupts(ctx) // sshd is asked
	eff, err := a.effective(ctx, stderr)
	if err != nil {
		return err
	}
	out := shownValues(eff)
	if a.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"config": a.dialect.String(), "openssh_version": a.version, "values": out})
	}
	if a.version != "" {
		fmt.Fprintf(stdout, "# OpenSSH %s\n", a.version)
	}
	return writeShown(stdout, eff, out)
}

// effective loads the configuration and evaluates it for the connection
// or host asked for, printing warnings on stderr. sshd's own check of the
// configuration must pass too.
func (a *showArgs) effective(ctx context.Context, stderr io.Writer) (*files.Effective, error) {
	root, err := files.NewRoot(a.root)
	if err != nil {
		return nil, err
	}
	if a.version == "" {
		a.version, _ = reconcile.RootSSHD(root, "").Version(ctx) // unknown when it fails
	}
	main := files.SSHDir + "/sshd_config"
	if a.dialect == files.Client {
		main = files.SSHDir + "/ssh_config"
	}
	cfg, err := files.Load(root, main, a.dialect)
	if err != nil {
		return nil, underRoot(a.root, err)
	}
	for _, w := range cfg.Warnings {
		printError(stderr, fmt.Errorf("warning: %w", underRoot(a.root, w)))
	}
	if a.dialect == files.Server {
		if err := sshdCheck(ctx, root, main, cfg); err != nil {
			return nil, underRoot(a.root, err)
		}
		return cfg.Server(a.conn), nil
	}
	return cfg.Client(files.Target{Host: a.host, LocalUser: localUser()}), nil
}

// sshdCheck has sshd check the configuration as it stands, in the running
// daemon's view when one serves it.
func sshdCheck(ctx context.Context, root *files.Root, main string, cfg *files.Config) error {
	pidFile, hostKeys := reconcile.DaemonFiles(cfg)
	sshd, err := reconcile.FindSSHD(reconcile.SSHDOptions{Root: root, Config: main, PidFile: pidFile, Mode: reconcile.ReloadNone, HostKeys: hostKeys, Log: zerolog.Nop()})
	if err != nil {
		return err
	}
	defer sshd.Close()
	if err := sshd.Validate(ctx, nil); err != nil {
		return fmt.Errorf("sshd rejects the configuration as it stands:\n%w", err)
	}
	return nil
}

// shownValues lists every value set, with its origins.
func shownValues(eff *files.Effective) []shownValue {
	var out []shownValue
	for _, v := range eff.Values() {
		sv := shownValue{Keyword: v.Keyword.Name, Value: v.Args, Origin: v.Origin().String()}
		if len(v.From) > 1 {
			for _, en := range v.From {
				sv.Origins = append(sv.Origins, en.Pos().String())
			}
		}
		out = append(out, sv)
	}
	return out
}

// writeShown prints one "Keyword value  # origin" line per value.
func writeShown(w io.Writer, eff *files.Effective, out []shownValue) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for i, v := range eff.Values() {
		origin := out[i].Origin
		if len(out[i].Origins) > 0 {
			origin = strings.Join(out[i].Origins, ", ")
		}
		fmt.Fprintf(tw, "%s %s\t# %s\n", v.Keyword.Name, files.FormatValue(v.Keyword, v.Args), origin)
	}
	for _, p := range eff.Unknown {
		fmt.Fprintf(tw, "# %s: Match exec not evaluated; taken as not matching\n", p)
	}
	return tw.Flush()
}

func localUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}
