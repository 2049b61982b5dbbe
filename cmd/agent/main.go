// Command agent keeps a machine's OpenSSH configuration where its owners
// want it. See README.md for its commands; the work is done in Run.
package main

import "os"

func main() {
	os.Exit(Run(os.Args[1:], os.Stdout, os.Stderr))
}
