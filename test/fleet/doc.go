// Package fleet holds the end-to-end tests of the fleet tooling:
// examples/fleet/bootstrap.sh and the Ansible role in examples/ansible. It
// has no code of its own; see the _test.go files.
//
// The tests build real hosts on this machine. Each host is a network
// namespace with its own address in a private /24 that the test picks and
// checks is unused, joined by a veth pair to a bridge in a controller
// namespace. Each host runs its own sshd in a private mount namespace where
// the host's tree (a temporary directory laid out like a Debian 12 root) is
// seen at /etc/ssh and /run. bootstrap.sh and ansible-playbook run in the
// controller namespace, so every packet stays between namespaces the test
// made; the machine's own network, /etc/ssh and sshd are never touched.
package fleet
