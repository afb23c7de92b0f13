package unionstore

import (
	"bytes"

	"github.com/tikvsim/tikvsim/internal/invariants"
)

// artTree is the adaptive radix tree (Leis et al., ICDE 2013) that indexes a
// MemDB's entries by key. The design follows client-go
// internal/unionstore/art/art.go and art_node.go: inner nodes of 4, 16, 48
// and 256 children that grow and shrink with their fan-out, path
// compression (a node stores the bytes every key below it shares), and an
// in-place leaf per inner node for the key that ends exactly there, so keys
// that are prefixes of each other (and the empty key) need no terminator
// byte. Unlike client-go the nodes are ordinary Go objects rather than
// offsets into an arena: the entries they point at already live in slabs and
// the key bytes in the key arena, and dropping the root frees every node to
// the collector, so Reset retains nothing.
//
// Leaves are the MemDB's *entry values themselves; an entry's key must not
// change while it is in the tree.
type artTree struct {
	root artRef
	n    int
}

// artRef is one child slot: a leaf, an inner node, or nothing.
type artRef struct {
	n *artNode
	e *entry
}

func (r artRef) empty() bool { return r.n == nil && r.e == nil }

const (
	art4   = 4
	art16  = 16
	art48  = 48
	art256 = 256
)

// artNode is an inner node. kind is its capacity (art4 ... art256). Nodes of
// 4 and 16 keep labels sorted with kids in the same order; a node of 48 maps
// a label to slot+1 in index; a node of 256 indexes kids by label.
type artNode struct {
	kind   int
	num    int
	prefix []byte // bytes shared by every key below, after the parent's label
	term   *entry // the key that ends at this node, if any
	labels [16]byte
	index  *[256]uint8
	kids   []artRef
	small  [art4]artRef // kids of a node of 4, saving an allocation
}

func newArtNode(kind int) *artNode {
	n := &artNode{kind: kind}
	switch kind {
	case art4:
		n.kids = n.small[:]
	case art48:
		n.index = new([256]uint8)
		n.kids = make([]artRef, kind)
	default:
		n.kids = make([]artRef, kind)
	}
	return n
}

// find returns the slot holding label b's child, or nil.
func (n *artNode) find(b byte) *artRef {
	switch n.kind {
	case art4, art16:
		for i := 0; i < n.num; i++ {
			if n.labels[i] == b {
				return &n.kids[i]
			}
		}
		return nil
	case art48:
		if s := n.index[b]; s != 0 {
			return &n.kids[s-1]
		}
		return nil
	default:
		if c := &n.kids[b]; !c.empty() {
			return c
		}
		return nil
	}
}

func (t *artTree) len() int { return t.n }

func (t *artTree) clear() { t.root, t.n = artRef{}, 0 }

// get returns the entry for key or nil.
func (t *artTree) get(key []byte) *entry {
	c := t.root
	depth := 0
	for {
		if c.e != nil {
			if bytes.Equal(c.e.key, key) {
				return c.e
			}
			return nil
		}
		n := c.n
		if n == nil {
			return nil
		}
		p := len(n.prefix)
		if len(key)-depth < p || !bytes.Equal(key[depth:depth+p], n.prefix) {
			return nil
		}
		depth += p
		if depth == len(key) {
			return n.term
		}
		s := n.find(key[depth])
		if s == nil {
			return nil
		}
		c = *s
		depth++
	}
}

func lcp(a, b []byte) int {
	m := min(len(a), len(b))
	for i := 0; i < m; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return m
}

// insert adds e, whose key must not be in the tree.
func (t *artTree) insert(e *entry) {
	t.n++
	ref := &t.root
	key := e.key
	depth := 0
	for {
		if ref.empty() {
			*ref = artRef{e: e}
			return
		}
		if old := ref.e; old != nil {
			invariants.Assert(!bytes.Equal(old.key, key), "art: insert of existing key %q", key)
			l := lcp(old.key[depth:], key[depth:])
			nn := newArtNode(art4)
			nn.prefix = append([]byte(nil), key[depth:depth+l]...)
			d := depth + l
			nn.place(old, d)
			nn.place(e, d)
			*ref = artRef{n: nn}
			return
		}
		n := ref.n
		l := lcp(n.prefix, key[depth:])
		if l < len(n.prefix) {
			nn := newArtNode(art4)
			nn.prefix = append([]byte(nil), n.prefix[:l]...)
			b := n.prefix[l]
			n.prefix = n.prefix[l+1:]
			nn.labels[0], nn.kids[0], nn.num = b, artRef{n: n}, 1
			nn.place(e, depth+l)
			*ref = artRef{n: nn}
			return
		}
		depth += l
		if depth == len(key) {
			invariants.Assert(n.term == nil, "art: insert of existing key %q", key)
			n.term = e
			return
		}
		if s := n.find(key[depth]); s != nil {
			ref = s
			depth++
			continue
		}
		if n.num == n.kind {
			n = n.grow()
			*ref = artRef{n: n}
		}
		n.add(key[depth], artRef{e: e})
		return
	}
}

// place puts leaf e, whose key has depth bytes matched, into fresh node n.
func (n *artNode) place(e *entry, depth int) {
	if depth == len(e.key) {
		n.term = e
		return
	}
	n.add(e.key[depth], artRef{e: e})
}

// add inserts child c under label b; n has room and no child b.
func (n *artNode) add(b byte, c artRef) {
	switch n.kind {
	case art4, art16:
		i := n.num
		for i > 0 && n.labels[i-1] > b {
			n.labels[i] = n.labels[i-1]
			n.kids[i] = n.kids[i-1]
			i--
		}
		n.labels[i], n.kids[i] = b, c
	case art48:
		// Slots 0..num-1 are full: removal compacts them.
		n.kids[n.num] = c
		n.index[b] = uint8(n.num + 1)
	default:
		n.kids[b] = c
	}
	n.num++
}

// grow returns a node of the next size holding n's children.
func (n *artNode) grow() *artNode {
	var nn *artNode
	switch n.kind {
	case art4:
		nn = newArtNode(art16)
		copy(nn.labels[:], n.labels[:n.num])
		copy(nn.kids, n.kids[:n.num])
		nn.num = n.num
	case art16:
		nn = newArtNode(art48)
		for i := 0; i < n.num; i++ {
			nn.add(n.labels[i], n.kids[i])
		}
	default:
		nn = newArtNode(art256)
		for b := 0; b < 256; b++ {
			if s := n.index[b]; s != 0 {
				nn.kids[b] = n.kids[s-1]
			}
		}
		nn.num = n.num
	}
	nn.prefix, nn.term = n.prefix, n.term
	return nn
}

// shrink returns a node of the next smaller size holding n's children.
func (n *artNode) shrink() *artNode {
	var nn *artNode
	switch n.kind {
	case art16:
		nn = newArtNode(art4)
		copy(nn.labels[:], n.labels[:n.num])
		copy(nn.kids, n.kids[:n.num])
		nn.num = n.num
	case art48:
		nn = newArtNode(art16)
		for b := 0; b < 256; b++ {
			if s := n.index[b]; s != 0 {
				nn.add(byte(b), n.kids[s-1])
			}
		}
	default:
		nn = newArtNode(art48)
		for b := 0; b < 256; b++ {
			if c := n.kids[b]; !c.empty() {
				nn.add(byte(b), c)
			}
		}
	}
	nn.prefix, nn.term = n.prefix, n.term
	return nn
}

// removeLabel drops label b's child.
func (n *artNode) removeLabel(b byte) {
	switch n.kind {
	case art4, art16:
		i := 0
		for n.labels[i] != b {
			i++
		}
		copy(n.labels[i:n.num], n.labels[i+1:n.num])
		copy(n.kids[i:n.num], n.kids[i+1:n.num])
		n.kids[n.num-1] = artRef{}
	case art48:
		s := int(n.index[b]) - 1
		last := n.num - 1
		if s != last {
			// Move the last slot into the hole to keep slots compact.
			n.kids[s] = n.kids[last]
			for l := 0; l < 256; l++ {
				if int(n.index[l]) == last+1 {
					n.index[l] = uint8(s + 1)
					break
				}
			}
		}
		n.kids[last] = artRef{}
		n.index[b] = 0
	default:
		n.kids[b] = artRef{}
	}
	n.num--
}

// Shrink thresholds, with slack below each smaller size so a node at the
// boundary does not flip size on every insert and delete.
func (n *artNode) underfull() bool {
	switch n.kind {
	case art16:
		return n.num <= 3
	case art48:
		return n.num <= 12
	case art256:
		return n.num <= 40
	}
	return false
}

// remove deletes key's leaf; it reports whether the key was there.
func (t *artTree) remove(key []byte) bool {
	if t.removeAt(&t.root, key, 0) {
		t.n--
		return true
	}
	return false
}

func (t *artTree) removeAt(ref *artRef, key []byte, depth int) bool {
	if ref.e != nil {
		if !bytes.Equal(ref.e.key, key) {
			return false
		}
		*ref = artRef{}
		return true
	}
	n := ref.n
	if n == nil {
		return false
	}
	p := len(n.prefix)
	if len(key)-depth < p || !bytes.Equal(key[depth:depth+p], n.prefix) {
		return false
	}
	depth += p
	if depth == len(key) {
		if n.term == nil {
			return false
		}
		n.term = nil
	} else {
		b := key[depth]
		s := n.find(b)
		if s == nil || !t.removeAt(s, key, depth+1) {
			return false
		}
		if s.empty() {
			n.removeLabel(b)
		}
	}
	t.compact(ref)
	return true
}

// compact replaces the node at ref after a removal below it: an empty node
// by nothing or its in-place leaf, a node with one child and no in-place
// leaf by that child (prefixes joined), an underfull node by a smaller one.
func (t *artTree) compact(ref *artRef) {
	n := ref.n
	switch {
	case n.num == 0 && n.term == nil:
		*ref = artRef{}
	case n.num == 0:
		*ref = artRef{e: n.term}
	case n.num == 1 && n.term == nil:
		var b byte
		var c artRef
		n.each(func(l byte, k artRef) bool { b, c = l, k; return false })
		if c.n != nil {
			pfx := make([]byte, 0, len(n.prefix)+1+len(c.n.prefix))
			pfx = append(append(append(pfx, n.prefix...), b), c.n.prefix...)
			c.n.prefix = pfx
		}
		*ref = c
	case n.underfull():
		*ref = artRef{n: n.shrink()}
	}
}

// each calls f on n's children in ascending label order until f is false;
// it reports whether f never returned false.
func (n *artNode) each(f func(b byte, c artRef) bool) bool {
	switch n.kind {
	case art4, art16:
		for i := 0; i < n.num; i++ {
			if !f(n.labels[i], n.kids[i]) {
				return false
			}
		}
	case art48:
		for b := 0; b < 256; b++ {
			if s := n.index[b]; s != 0 && !f(byte(b), n.kids[s-1]) {
				return false
			}
		}
	default:
		for b := 0; b < 256; b++ {
			if c := n.kids[b]; !c.empty() && !f(byte(b), c) {
				return false
			}
		}
	}
	return true
}

// ascend calls f on every entry whose key is >= from (every entry if from is
// nil) in ascending order until f returns false.
func (t *artTree) ascend(from []byte, f func(*entry) bool) {
	ascendRef(t.root, from, 0, f)
}

// descend calls f on every entry whose key is <= from (every entry if from
// is nil) in descending order until f returns false.
func (t *artTree) descend(from []byte, f func(*entry) bool) {
	descendRef(t.root, from, 0, f)
}

// ascendRef walks the subtree at c, whose keys share from's first depth
// bytes (when from is not nil); it reports whether to go on.
func ascendRef(c artRef, from []byte, depth int, f func(*entry) bool) bool {
	if e := c.e; e != nil {
		if from != nil && bytes.Compare(e.key, from) < 0 {
			return true
		}
		return f(e)
	}
	n := c.n
	if n == nil {
		return true
	}
	if from != nil {
		rest := from[depth:]
		m := min(len(rest), len(n.prefix))
		switch cmp := bytes.Compare(n.prefix[:m], rest[:m]); {
		case cmp < 0:
			return true // the whole subtree is below from
		case cmp > 0 || m < len(n.prefix):
			from = nil // the whole subtree is above from
		default:
			depth += m
			if depth < len(from) {
				// n.term is a proper prefix of from: below it.
				b := from[depth]
				var ok = true
				n.each(func(l byte, k artRef) bool {
					switch {
					case l < b:
						return true
					case l == b:
						ok = ascendRef(k, from, depth+1, f)
					default:
						ok = ascendRef(k, nil, 0, f)
					}
					return ok
				})
				return ok
			}
			from = nil // n.term == from, the children above it
		}
	}
	if n.term != nil && !f(n.term) {
		return false
	}
	return n.each(func(_ byte, k artRef) bool { return ascendRef(k, nil, 0, f) })
}

// eachReverse is each in descending label order.
func (n *artNode) eachReverse(f func(b byte, c artRef) bool) bool {
	switch n.kind {
	case art4, art16:
		for i := n.num - 1; i >= 0; i-- {
			if !f(n.labels[i], n.kids[i]) {
				return false
			}
		}
	case art48:
		for b := 255; b >= 0; b-- {
			if s := n.index[b]; s != 0 && !f(byte(b), n.kids[s-1]) {
				return false
			}
		}
	default:
		for b := 255; b >= 0; b-- {
			if c := n.kids[b]; !c.empty() && !f(byte(b), c) {
				return false
			}
		}
	}
	return true
}

func descendRef(c artRef, from []byte, depth int, f func(*entry) bool) bool {
	if e := c.e; e != nil {
		if from != nil && bytes.Compare(e.key, from) > 0 {
			return true
		}
		return f(e)
	}
	n := c.n
	if n == nil {
		return true
	}
	if from != nil {
		rest := from[depth:]
		m := min(len(rest), len(n.prefix))
		switch cmp := bytes.Compare(n.prefix[:m], rest[:m]); {
		case cmp > 0 || (cmp == 0 && m < len(n.prefix)):
			return true // the whole subtree is above from
		case cmp < 0:
			from = nil // the whole subtree is below from
		default:
			depth += m
			if depth == len(from) {
				// Only n.term (== from) qualifies; every child is above.
				if n.term != nil {
					return f(n.term)
				}
				return true
			}
			b := from[depth]
			ok := n.eachReverse(func(l byte, k artRef) bool {
				switch {
				case l > b:
					return true
				case l == b:
					return descendRef(k, from, depth+1, f)
				default:
					return descendRef(k, nil, 0, f)
				}
			})
			if !ok {
				return false
			}
			if n.term != nil {
				return f(n.term)
			}
			return true
		}
	}
	if !n.eachReverse(func(_ byte, k artRef) bool { return descendRef(k, nil, 0, f) }) {
		return false
	}
	if n.term != nil {
		return f(n.term)
	}
	return true
}

// artCursor walks the tree in order, one entry per step, from a seek. It
// keeps the path from the root as a stack of frames and is invalidated by
// any change to the tree. The design follows client-go
// internal/unionstore/art/art_iterator.go (a stack of node positions rather
// than a callback walk).
type artCursor struct {
	stack []artFrame
	arr   [8]artFrame // the stack's first frames, saving an allocation
}

// artFrame is a node on the cursor's path and the next child slot to look
// at: an index into labels/kids for nodes of 4 and 16, a label for nodes of
// 48 and 256. Going forward, -1 means the in-place leaf is still due; going
// in reverse, -1 means only the in-place leaf is left and -2 that nothing is.
type artFrame struct {
	n *artNode
	i int
}

// lastSlot is the highest slot of n, where a reverse walk starts.
func (n *artNode) lastSlot() int {
	if n.kind <= art16 {
		return n.num - 1
	}
	return 255
}

// childFrom returns the first child at slot i or later and its slot, or -1.
func (n *artNode) childFrom(i int) (artRef, int) {
	switch n.kind {
	case art4, art16:
		if i < n.num {
			return n.kids[i], i
		}
	case art48:
		for ; i < 256; i++ {
			if s := n.index[i]; s != 0 {
				return n.kids[s-1], i
			}
		}
	default:
		for ; i < 256; i++ {
			if c := n.kids[i]; !c.empty() {
				return c, i
			}
		}
	}
	return artRef{}, -1
}

// childAtOrBelow returns the last child at slot i or earlier and its slot,
// or -1.
func (n *artNode) childAtOrBelow(i int) (artRef, int) {
	switch n.kind {
	case art4, art16:
		if i >= 0 {
			return n.kids[i], i
		}
	case art48:
		for ; i >= 0; i-- {
			if s := n.index[i]; s != 0 {
				return n.kids[s-1], i
			}
		}
	default:
		for ; i >= 0; i-- {
			if c := n.kids[i]; !c.empty() {
				return c, i
			}
		}
	}
	return artRef{}, -1
}

// firstSlotFrom returns the slot where labels >= b start.
func (n *artNode) firstSlotFrom(b byte) int {
	if n.kind > art16 {
		return int(b)
	}
	i := 0
	for i < n.num && n.labels[i] < b {
		i++
	}
	return i
}

// next returns the next entry in ascending order, or nil at the end.
func (c *artCursor) next() *entry {
	for len(c.stack) > 0 {
		f := &c.stack[len(c.stack)-1]
		n := f.n
		if f.i < 0 {
			f.i = 0
			if n.term != nil {
				return n.term
			}
		}
		ch, at := n.childFrom(f.i)
		if at < 0 {
			c.stack = c.stack[:len(c.stack)-1]
			continue
		}
		f.i = at + 1
		if ch.e != nil {
			return ch.e
		}
		c.stack = append(c.stack, artFrame{n: ch.n, i: -1})
	}
	return nil
}

// prev returns the next entry in descending order, or nil at the end.
func (c *artCursor) prev() *entry {
	for len(c.stack) > 0 {
		f := &c.stack[len(c.stack)-1]
		n := f.n
		if f.i >= 0 {
			ch, at := n.childAtOrBelow(f.i)
			if at >= 0 {
				f.i = at - 1
				if ch.e != nil {
					return ch.e
				}
				c.stack = append(c.stack, artFrame{n: ch.n, i: ch.n.lastSlot()})
				continue
			}
			f.i = -1
		}
		if f.i == -1 {
			f.i = -2
			if n.term != nil {
				return n.term
			}
		}
		c.stack = c.stack[:len(c.stack)-1]
	}
	return nil
}

// seekGE positions c on the first entry with key >= from (the first entry
// for a nil from) and returns it, or nil if there is none.
func (c *artCursor) seekGE(t *artTree, from []byte) *entry {
	c.stack = c.arr[:0]
	r, depth := t.root, 0
	for {
		if r.e != nil {
			if from == nil || bytes.Compare(r.e.key, from) >= 0 {
				return r.e
			}
			return c.next()
		}
		n := r.n
		if n == nil {
			return c.next()
		}
		if from == nil {
			c.stack = append(c.stack, artFrame{n: n, i: -1})
			return c.next()
		}
		rest := from[depth:]
		m := min(len(rest), len(n.prefix))
		switch cmp := bytes.Compare(n.prefix[:m], rest[:m]); {
		case cmp < 0:
			return c.next() // n's keys are all below from
		case cmp > 0 || m < len(n.prefix):
			c.stack = append(c.stack, artFrame{n: n, i: -1})
			return c.next() // n's keys are all above from
		}
		depth += m
		if depth == len(from) {
			c.stack = append(c.stack, artFrame{n: n, i: -1}) // n.term == from
			return c.next()
		}
		b := from[depth]
		i := n.firstSlotFrom(b)
		s := n.find(b)
		if s == nil {
			c.stack = append(c.stack, artFrame{n: n, i: i})
			return c.next()
		}
		c.stack = append(c.stack, artFrame{n: n, i: i + 1})
		r, depth = *s, depth+1
	}
}

// seekLE positions c on the last entry with key <= from (the last entry for
// a nil from) and returns it, or nil if there is none.
func (c *artCursor) seekLE(t *artTree, from []byte) *entry {
	c.stack = c.arr[:0]
	r, depth := t.root, 0
	for {
		if r.e != nil {
			if from == nil || bytes.Compare(r.e.key, from) <= 0 {
				return r.e
			}
			return c.prev()
		}
		n := r.n
		if n == nil {
			return c.prev()
		}
		if from == nil {
			c.stack = append(c.stack, artFrame{n: n, i: n.lastSlot()})
			return c.prev()
		}
		rest := from[depth:]
		m := min(len(rest), len(n.prefix))
		switch cmp := bytes.Compare(n.prefix[:m], rest[:m]); {
		case cmp > 0 || (cmp == 0 && m < len(n.prefix)):
			return c.prev() // n's keys are all above from
		case cmp < 0:
			c.stack = append(c.stack, artFrame{n: n, i: n.lastSlot()})
			return c.prev() // n's keys are all below from
		}
		depth += m
		if depth == len(from) {
			c.stack = append(c.stack, artFrame{n: n, i: -1}) // only n.term
			return c.prev()
		}
		b := from[depth]
		i := n.firstSlotFrom(b) - 1 // the last slot below label b
		s := n.find(b)
		c.stack = append(c.stack, artFrame{n: n, i: i})
		if s == nil {
			return c.prev()
		}
		r, depth = *s, depth+1
	}
}
