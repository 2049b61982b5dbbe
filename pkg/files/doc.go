// Package files is sshconverge's model of OpenSSH configuration, as each
// OpenSSH release from 8.4 to 10.6 (Debian's builds) reads it: a lossless
// syntax for sshd_config and ssh_config (Parse, File.Bytes), the keyword
// catalogue of each release (Version.Catalogue; CatalogueFor for 9.2, the
// default), values compared as OpenSSH compares them (Normalize), Include
// expansion under a root directory (Root, Load, LoadWith for a release),
// the effective value of every keyword with its origin (Config.Server,
// Config.Client), and edits that change only the lines they must and take
// effect or report a Conflict (Draft.Set, Draft.Unset).
//
// It knows OpenSSH, not YAML or the desired state (pkg/desired), and it
// never writes files: edits are staged in memory for pkg/reconcile to
// write.
package files
