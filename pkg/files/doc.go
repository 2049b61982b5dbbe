// Package files is sshconverge's model of OpenSSH configuration, as
// OpenSSH 9.2 (Debian 12) reads it: a lossless syntax for sshd_config and
// ssh_config (Parse, File.Bytes), the keyword catalogue (CatalogueFor),
// values compared as OpenSSH compares them (Normalize), Include expansion
// under a root directory (Root, Load), the effective value of every keyword
// with its origin (Config.Server, Config.Client), and edits that change
// only the lines they must and take effect or report a Conflict
// (Config.Set, Config.Unset).
//
// It knows OpenSSH, not YAML or the desired state (pkg/desired), and it
// never writes files: edits are staged in memory for pkg/reconcile to
// write.
package files
