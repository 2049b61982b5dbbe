// Command hello is the floor of bench/run.sh: the start time and memory of
// the smallest static Go program, built with the agent's flags.
package main

import "fmt"

func main() {
	fmt.Println("hello, world")
}
