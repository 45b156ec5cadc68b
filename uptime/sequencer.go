package uptime

// sequencer hands the detector the answers of results processed in start
// order, in observation order (answer.at). A later result starts, so
// observes, no earlier than the latest start processed (the watermark):
// an answer observed at or before it can go. Until then the answers wait
// in a heap, about the requests in flight; past reorderMax the earliest
// goes anyway.
//
// Ordering costs a heap pop per answer, and most of the time it does not
// matter: while the service is up with no failure in the run or waiting,
// good answers only tell that it still is, in any order. So in that calm
// state good answers wait unordered in a FIFO (dropped once observed), and
// only a failure puts the ones observed after it into the heap.
type sequencer struct {
	det       detector
	outages   []Outage
	heap      minHeap[answer]
	fails     int // failures in heap
	calm      []answer
	head      int // first live index of calm
	watermark int64
}

// add takes the answer of a result that started at start.
func (q *sequencer) add(x answer, start int64) {
	q.watermark = max(q.watermark, start)
	if q.isCalm() {
		if x.good {
			q.calm = append(q.calm, x)
			q.dropCalm()
			return
		}
		q.order(x.at())
	}
	if !x.good {
		q.fails++
	}
	q.heap.push(x.at(), x.other(), x)
	q.release(false)
}

// isCalm reports whether good answers can be taken in any order.
func (q *sequencer) isCalm() bool { return !q.det.down && q.det.failRun == 0 && q.fails == 0 }

// dropCalm takes the calm answers at the head that were observed by the
// watermark.
func (q *sequencer) dropCalm() {
	for q.head < len(q.calm) && q.calm[q.head].at() <= q.watermark {
		q.step(q.calm[q.head])
		q.head++
	}
	if q.head > 1024 && q.head > len(q.calm)/2 {
		q.calm = q.calm[:copy(q.calm, q.calm[q.head:])]
		q.head = 0
	}
}

// order ends the calm state before a failure observed at t: the calm
// answers observed before it go now, the others into the heap.
func (q *sequencer) order(t int64) {
	for _, x := range q.calm[q.head:] {
		if x.at() < t {
			q.step(x)
		} else {
			q.heap.push(x.at(), x.other(), x)
		}
	}
	q.calm, q.head = q.calm[:0], 0
}

// release steps the heap's answers observed by the watermark (all when
// flush), and moves what is left back to the calm FIFO once calm again.
func (q *sequencer) release(flush bool) {
	for len(q.heap) > 0 && (flush || q.heap[0].key <= q.watermark || len(q.heap) >= reorderMax) {
		x := q.heap.pop()
		if !x.good {
			q.fails--
		}
		q.step(x)
	}
	if len(q.heap) > 0 && q.isCalm() {
		for _, e := range q.heap {
			q.calm = append(q.calm, e.v)
		}
		q.heap = q.heap[:0]
	}
}

// flush steps every answer left.
func (q *sequencer) flush() {
	for _, x := range q.calm[q.head:] {
		q.step(x)
	}
	q.calm, q.head = q.calm[:0], 0
	q.release(true)
}

func (q *sequencer) step(x answer) {
	if o := q.det.step(x); o != nil {
		q.outages = append(q.outages, *o)
	}
}
