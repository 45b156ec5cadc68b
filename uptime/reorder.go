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

// answer is the item as the outage detector sees it.
func (x item) answer() answer {
	a := answer{sent: x.obs, end: x.start + x.lat, good: x.out.Good()}
	if x.ttft > 0 {
		a.firstToken = x.start + x.ttft
	}
	return a
}

// entry is a heap element: ordered by key, then tie.
type entry[T any] struct {
	key, tie int64
	v        T
}

// minHeap is a 4-ary min-heap of entries (half the depth of a binary
// one: fewer moves per pop), without container/heap's interface boxing (no
// allocation per push) and with an inlined order.
type minHeap[T any] []entry[T]

func (h minHeap[T]) less(i, j int) bool {
	return h[i].key < h[j].key || h[i].key == h[j].key && h[i].tie < h[j].tie
}

func (h *minHeap[T]) push(key, tie int64, v T) {
	*h = append(*h, entry[T]{key, tie, v})
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 4
		if !a.less(i, p) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *minHeap[T]) pop() T {
	a := *h
	top := a[0].v
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		m, c := i, 4*i+1
		for j := c; j < min(c+4, n); j++ {
			if a.less(j, m) {
				m = j
			}
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
		top := a.pending[0].v
		if !flush && top.seq > a.next && len(a.pending) < reorderMax {
			return
		}
		a.pending.pop()
		if top.seq >= a.next {
			a.next = top.seq + 1
		}
		a.process(top)
	}
	if flush {
		a.seq.flush()
	}
}
