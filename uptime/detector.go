package uptime

import (
	"time"

	"github.com/aiuptime/aiuptime/probe"
)

// answer is one request as the outage detector sees it (unix ns).
type answer struct {
	sent       int64 // when it observed the service (Result.Observed)
	end        int64 // when its answer (or failure) arrived
	firstToken int64 // when its first token arrived; 0 when unknown
	good       bool
}

// at is when the request tells something about the service: a failed
// request when it was sent (the service failed it whenever it gave up:
// a timeout says nothing about the moment it expired), a good one when its
// answer arrived (the service was answering then, however long the request
// had waited in a queue or a listen backlog).
func (x answer) at() int64 {
	if x.good {
		return x.end
	}
	return x.sent
}

// other is the time at does not give: a failure's end, a good answer's
// send. Answers observed at the same instant are ordered by it.
func (x answer) other() int64 {
	if x.good {
		return x.sent
	}
	return x.end
}

// detector is the outage state machine of the seed: failover after N
// consecutive failures, recovery after M consecutive successes, on answers
// in the order they observed the service (answer.at). So:
//
//   - An outage starts when its first failed request was sent. A failure
//     sent before a good answer arrived (in flight across it) is not part
//     of the run: the service was seen answering after it left.
//   - It ends when service was restored: at the arrival of the first good
//     answer after which answers keep succeeding. A failure sent before
//     that answer arrived belongs to the outage (it observed it) and never
//     resets the recovering run, nor opens a second outage once the first
//     is closed, however late its own failure arrives (a timeout). Slow
//     good answers (requests queued during a restart) count when they
//     arrived, not when they were sent, so they no longer split an outage.
//
// The Analyzer feeds it in exact observation order; the live Window in
// arrival order, which differs only by failures arriving late, and the
// send-time rules above absorb those.
type detector struct {
	failover, recovery int
	down               bool
	failRun            int
	lastGood           int64 // latest good answer seen
	goodRun            int
	goodFirst          int64 // arrival of the recovering run's first good answer
	goodFirstToken     int64
	reqsBeforeGood     int64
	absorbed           int64 // failures sent before goodFirst, seen after it
	cur                Outage
}

// step folds one answer in and returns the outage it closed, if any.
func (d *detector) step(x answer) *Outage {
	if !d.down {
		d.stepUp(x)
		return nil
	}
	d.cur.Requests++
	if !x.good {
		d.cur.Failed++
		if d.goodRun > 0 && x.sent < d.goodFirst {
			d.absorbed++ // it observed the outage: the recovery holds
		} else {
			d.goodRun = 0
		}
		return nil
	}
	if d.goodRun == 0 {
		d.goodFirst, d.goodFirstToken = x.end, x.firstToken
		d.reqsBeforeGood, d.absorbed = d.cur.Requests-1, 0
	}
	d.goodRun++
	d.lastGood = max(d.lastGood, x.end)
	if d.goodRun < d.recovery {
		return nil
	}
	o := d.cur
	o.End = time.Unix(0, d.goodFirst)
	o.RecoveredAt = time.Unix(0, x.end)
	o.Requests = d.reqsBeforeGood + d.absorbed
	if o.End.Before(o.Start) {
		// Only out of observation order (a live Window): a good answer
		// arrived late. The outage cannot end before it began.
		o.Start = o.End
	}
	o.Duration = o.End.Sub(o.Start)
	if d.goodFirstToken > 0 {
		o.FirstTokenAt = time.Unix(0, d.goodFirstToken)
	}
	d.down, d.failRun, d.goodRun = false, 0, 0
	return &o
}

// stepUp handles an answer while the service is up.
func (d *detector) stepUp(x answer) {
	if x.good {
		d.failRun = 0
		d.lastGood = max(d.lastGood, x.end)
		return
	}
	if x.sent < d.lastGood {
		// Sent before a good answer arrived: in observation order it comes
		// before that answer, which ended its run (or closed the outage it
		// belongs to).
		return
	}
	if d.failRun == 0 {
		d.cur = Outage{Start: time.Unix(0, x.sent)}
	} else if s := time.Unix(0, x.sent); s.Before(d.cur.Start) {
		d.cur.Start = s
	}
	d.failRun++
	d.cur.Failed++
	d.cur.Requests++
	if d.failRun >= d.failover {
		d.down, d.goodRun = true, 0
		d.cur.DetectedAt = time.Unix(0, x.end)
	}
}

// open returns the outage still in progress, if any, closed at end.
func (d *detector) open(end time.Time) *Outage {
	if !d.down {
		return nil
	}
	o := d.cur
	o.End = end
	o.Ongoing = true
	o.Duration = o.End.Sub(o.Start)
	return &o
}

// resultAnswer reduces a result to what the detector needs.
func resultAnswer(r probe.Result) answer {
	x := answer{sent: r.Observed().UnixNano(), end: r.End().UnixNano(), good: r.Outcome.Good()}
	if r.TTFT > 0 {
		x.firstToken = r.Start.Add(r.TTFT).UnixNano()
	}
	return x
}
