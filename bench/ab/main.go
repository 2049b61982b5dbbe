// Command ab times commands side by side, in turn: round after round, each
// command runs once, so that a machine whose speed drifts (a VM's
// neighbours) slows every command alike. hyperfine runs all of one
// command's runs before the next command's, and on the bench VM two runs
// of the same binary a few minutes apart differ by up to a sixth; a change
// worth 2 ms in 40 is lost in that.
//
//	go run ./bench/ab [-n ROUNDS] [-warmup N] [-remove DIR] -- OLD ARGS… -- NEW ARGS…
//
// It prints, for each command, the median and mean of the wall time and of
// the CPU time (user and system, from wait4's rusage, children included),
// and each command's exit statuses. Commands run without a shell, with
// standard output and error discarded. -remove DIR removes DIR (an
// agent's state directory, say, for a first audit every time) before
// every run, untimed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	rounds := flag.Int("n", 200, "rounds: runs of each command")
	warmup := flag.Int("warmup", 3, "untimed rounds first")
	remove := flag.String("remove", "", "a directory to remove before every run, untimed")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: ab [-n ROUNDS] [-warmup N] [-remove DIR] -- CMD ARGS… [-- CMD ARGS…]…")
		flag.PrintDefaults()
	}
	flag.Parse()
	cmds := split(flag.Args())
	if len(cmds) == 0 || *rounds < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdout, cmds, *rounds, *warmup, *remove); err != nil {
		fmt.Fprintln(os.Stderr, "ab:", err)
		os.Exit(1)
	}
}

// split cuts args at each "--" into commands.
func split(args []string) [][]string {
	var cmds [][]string
	for _, a := range args {
		if a == "--" {
			cmds = append(cmds, nil)
			continue
		}
		if len(cmds) == 0 {
			cmds = append(cmds, nil)
		}
		cmds[len(cmds)-1] = append(cmds[len(cmds)-1], a)
	}
	return slices.DeleteFunc(cmds, func(c []string) bool { return len(c) == 0 })
}

// sample is one run's figures.
type sample struct {
	wall, cpu time.Duration
	exit      int
}

// run times cmds for rounds rounds after warmup untimed ones, removing
// the directory remove (if not "") before every run, and writes the table
// to w.
func run(w io.Writer, cmds [][]string, rounds, warmup int, remove string) error {
	samples := make([][]sample, len(cmds))
	for r := range warmup + rounds {
		for i, c := range cmds {
			if remove != "" {
				if err := os.RemoveAll(remove); err != nil {
					return err
				}
			}
			s, err := once(c)
			if err != nil {
				return err
			}
			if r >= warmup {
				samples[i] = append(samples[i], s)
			}
		}
	}
	fmt.Fprintf(w, "%d rounds, in turn\n", rounds)
	for i, c := range cmds {
		walls, cpus, exits := figures(samples[i])
		fmt.Fprintf(w, "%s\n  wall median %s  mean %s   CPU median %s  mean %s   exit %s\n",
			strings.Join(c, " "), ms(median(walls)), ms(mean(walls)), ms(median(cpus)), ms(mean(cpus)), exits)
	}
	return nil
}

// once runs c and measures it.
func once(c []string) (sample, error) {
	cmd := exec.Command(c[0], c[1:]...)
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return sample{}, err
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return sample{wall, cpu, cmd.ProcessState.ExitCode()}, nil
}

// figures splits samples into wall times, CPU times and a summary of the
// exit statuses ("0", or "0 ×198, 1 ×2").
func figures(ss []sample) (walls, cpus []time.Duration, exits string) {
	count := map[int]int{}
	for _, s := range ss {
		walls = append(walls, s.wall)
		cpus = append(cpus, s.cpu)
		count[s.exit]++
	}
	codes := make([]int, 0, len(count))
	for c := range count {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	if len(codes) == 1 {
		return walls, cpus, fmt.Sprint(codes[0])
	}
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d ×%d", c, count[c])
	}
	return walls, cpus, strings.Join(parts, ", ")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func mean(d []time.Duration) time.Duration {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
