package uptime

import "github.com/aiuptime/aiuptime/probe"

// item is a result reduced to what ordered processing needs.
type item struct {
	seq   uint64
	start int64 // unix ns, intended send time
	obs   int64 // unix ns, when it observed the service (actual send)
	lat   int64 // ns
	ttft  int64 // ns
	code  uint16
	out   probe.Outcome
	be    uint8
}

// itemHeap is a min-heap by (seq, start), without container/heap's
// interface boxing (no allocation per push).
type itemHeap []item

func (h itemHeap) less(i, j int) bool {
	if h[i].seq != h[j].seq {
		return h[i].seq < h[j].seq
	}
	return h[i].start < h[j].start
}

func (h *itemHeap) push(x item) {
	*h = append(*h, x)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a.less(i, p) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *itemHeap) pop() item {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && a.less(l, m) {
			m = l
		}
		if r < n && a.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

// release processes pending items in Seq order; all of them when flush.
func (a *Analyzer) release(flush bool) {
	for len(a.pending) > 0 {
		top := a.pending[0]
		if !flush && top.seq > a.next && len(a.pending) < reorderMax {
			return
		}
		a.pending.pop()
		if top.seq >= a.next {
			a.next = top.seq + 1
		}
		a.process(top)
	}
}
