package clip

// Byte-pair encoding of one word. The original algorithm is: start from the
// word's bytes (the last one carrying the </w> end-of-word marker), find the
// adjacent pair with the lowest merge rank, merge every occurrence of it
// from left to right, and repeat until no pair has a rank. bpeScan does
// exactly that; it costs a pass over the word per distinct merge, which is
// quadratic in the word's length. bpeHeap gets the same result in
// O(n log n) by keeping candidate pairs in a heap ordered by (rank,
// position) — valid when merges.txt is well ordered (see
// Tokenizer.wellOrdered): every pair a merge creates then ranks after the
// merge itself, so the heap also takes ranks in increasing order and each
// rank's occurrences from left to right.

func pairKey(left, right int32) uint64 { return uint64(uint32(left))<<32 | uint64(uint32(right)) }

// bpe appends the symbol ids of word to dst.
func (t *Tokenizer) bpe(dst []int32, word []byte, st *bpeState) []int32 {
	if t.wellOrdered {
		return t.bpeHeap(dst, word, st)
	}
	return t.bpeScan(dst, word)
}

// initialSymbols appends the byte symbols of word to dst.
func (t *Tokenizer) initialSymbols(dst []int32, word []byte) []int32 {
	for i, b := range word {
		if i == len(word)-1 {
			dst = append(dst, t.byteEndSym[b])
		} else {
			dst = append(dst, t.byteSym[b])
		}
	}
	return dst
}

func (t *Tokenizer) bpeScan(dst []int32, word []byte) []int32 {
	base := len(dst)
	dst = t.initialSymbols(dst, word)
	syms := dst[base:]
	for len(syms) > 1 {
		best := ^uint64(0)
		var left, right int32
		for i := 0; i+1 < len(syms); i++ {
			if m, ok := t.merges[pairKey(syms[i], syms[i+1])]; ok && m < best {
				best, left, right = m, syms[i], syms[i+1]
			}
		}
		if best == ^uint64(0) {
			break
		}
		merged := int32(uint32(best))
		w := 0
		for i := 0; i < len(syms); w++ {
			if i+1 < len(syms) && syms[i] == left && syms[i+1] == right {
				syms[w] = merged
				i += 2
			} else {
				syms[w] = syms[i]
				i++
			}
		}
		syms = syms[:w]
	}
	return dst[:base+len(syms)]
}

// bpeState holds bpeHeap's buffers between calls.
type bpeState struct {
	nodes []bpeNode
	heap  []bpeCandidate
}

// bpeNode is one symbol of the word being merged, in a doubly linked list
// indexed by the position of the symbol's first byte.
type bpeNode struct {
	id         int32 // -1 once merged into its left neighbour
	prev, next int32 // -1 at either end
}

type bpeCandidate struct {
	rank        uint32
	pos         int32 // node holding the left symbol
	left, right int32 // the pair as it was when pushed, to spot stale entries
	merged      int32
}

func (c bpeCandidate) less(d bpeCandidate) bool {
	return c.rank < d.rank || (c.rank == d.rank && c.pos < d.pos)
}

func (t *Tokenizer) bpeHeap(dst []int32, word []byte, st *bpeState) []int32 {
	n := len(word)
	nodes := st.nodes[:0]
	for i, b := range word {
		id := t.byteSym[b]
		if i == n-1 {
			id = t.byteEndSym[b]
		}
		nodes = append(nodes, bpeNode{id: id, prev: int32(i - 1), next: int32(i + 1)})
	}
	nodes[n-1].next = -1
	st.heap = st.heap[:0]
	for i := 0; i+1 < n; i++ {
		t.pushPair(st, nodes, int32(i))
	}
	for len(st.heap) > 0 {
		c := st.pop()
		a := &nodes[c.pos]
		if a.id != c.left || a.next < 0 || nodes[a.next].id != c.right {
			continue
		}
		b := &nodes[a.next]
		a.id = c.merged
		a.next = b.next
		if b.next >= 0 {
			nodes[b.next].prev = c.pos
		}
		b.id = -1
		if a.prev >= 0 {
			t.pushPair(st, nodes, a.prev)
		}
		if a.next >= 0 {
			t.pushPair(st, nodes, c.pos)
		}
	}
	for i := int32(0); i >= 0; i = nodes[i].next {
		dst = append(dst, nodes[i].id)
	}
	st.nodes = nodes
	return dst
}

// pushPair adds the pair starting at node pos to the heap if it merges.
func (t *Tokenizer) pushPair(st *bpeState, nodes []bpeNode, pos int32) {
	left, right := nodes[pos].id, nodes[nodes[pos].next].id
	m, ok := t.merges[pairKey(left, right)]
	if !ok {
		return
	}
	st.heap = append(st.heap, bpeCandidate{rank: uint32(m >> 32), pos: pos, left: left, right: right, merged: int32(uint32(m))})
	h := st.heap
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h[i].less(h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (st *bpeState) pop() bpeCandidate {
	h := st.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].less(h[m]) {
			m = l
		}
		if r < len(h) && h[r].less(h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	st.heap = h
	return top
}
