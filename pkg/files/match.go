package files

import (
	"fmt"
	"strings"
)

// Override is a directive in an sshd Match block that sets a keyword, over
// its global value, for the connections the block selects.
type Override struct {
	// Block is the Match block; Entry the directive in it.
	Block *Block
	Entry *Entry
}

// Criteria returns the block's criteria as written after "Match".
func (o Override) Criteria() string { return strings.TrimSpace(o.Block.Line.Value()) }

// Scope returns the block's scope, or false when the block sits in a file
// included inside another block (it is no scope of its own then).
func (o Override) Scope() (Scope, bool) {
	return Scope{Match: o.Criteria()}, o.Block.Parent == nil
}

// Overrides returns every directive that sets sshd keyword name inside a
// Match block (Match all included), in evaluation order: what wins over
// the global value for the connections each block selects.
func (c *Config) Overrides(name string) ([]Override, error) {
	if c.Dialect != Server {
		return nil, fmt.Errorf("overrides are an sshd matter")
	}
	k, err := c.Catalogue().Find(name)
	if err != nil {
		return nil, err
	}
	var out []Override
	for _, en := range c.Entries {
		if en.Keyword == k && en.Block != nil && !en.Block.Host {
			out = append(out, Override{Block: en.Block, Entry: en})
		}
	}
	return out, nil
}
