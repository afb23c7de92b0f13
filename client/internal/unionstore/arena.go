package unionstore

// arena hands out byte slices carved from a list of blocks so that buffered
// keys and values cost one allocation per block rather than one per write.
// Space is reclaimed only by truncate (back to a recorded position) or reset.
type arena struct {
	blocks [][]byte
	cur    int // index of the block being filled; -1 before the first alloc
	off    int // bytes used in blocks[cur]
	capSum uint64
}

const (
	arenaFirstBlock = 4 << 10
	arenaMaxBlock   = 1 << 20
)

func newArena() arena { return arena{cur: -1} }

// alloc returns a zeroed slice of n bytes (n > 0) with its capacity capped at n.
func (a *arena) alloc(n int) []byte {
	if a.cur < 0 || a.off+n > len(a.blocks[a.cur]) {
		a.cur++
		a.off = 0
		size := arenaFirstBlock << min(a.cur, 8)
		size = max(min(size, arenaMaxBlock), n)
		if a.cur == len(a.blocks) {
			a.blocks = append(a.blocks, make([]byte, size))
			a.capSum += uint64(size)
		} else if len(a.blocks[a.cur]) < n {
			a.capSum += uint64(size - len(a.blocks[a.cur]))
			a.blocks[a.cur] = make([]byte, size)
		}
	}
	b := a.blocks[a.cur][a.off : a.off+n : a.off+n]
	a.off += n
	return b
}

// pos returns the current fill position for truncate.
func (a *arena) pos() (blk, off int) { return a.cur, a.off }

// truncate forgets everything allocated after position (blk, off); later
// blocks are kept for reuse.
func (a *arena) truncate(blk, off int) { a.cur, a.off = blk, off }

// reset forgets every allocation and keeps at most the first block, and that
// only at its normal size (arenaFirstBlock): a block grown for one large
// allocation is dropped, so a reset arena retains at most arenaFirstBlock
// bytes however much it held.
func (a *arena) reset() {
	keep := 0
	if len(a.blocks) > 0 && len(a.blocks[0]) == arenaFirstBlock {
		keep = 1
	}
	clear(a.blocks[keep:]) // let the collector have the dropped blocks
	a.blocks = a.blocks[:keep]
	a.capSum = uint64(keep * arenaFirstBlock)
	a.cur, a.off = -1, 0
}
