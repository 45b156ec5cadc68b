package uptime

import "time"

// detector is the outage state machine of the seed: failover after N
// consecutive failures, recovery after M consecutive successes, both on
// requests in intended-start order. Boundaries are the times the requests
// observed the service (their actual send), not their intended start: a
// request the scheduler sent late saw the service late.
type detector struct {
	failover, recovery int
	down               bool
	failRun            int
	failRunStart       int64
	failRunFirstEnd    int64
	lastGoodEnd        int64
	goodRun            int
	goodRunStart       int64
	goodRunTTFT        int64
	reqsBeforeGood     int64
	cur                Outage
}

func (d *detector) step(it item, good bool) *Outage {
	end := it.start + it.lat
	if !d.down {
		if good {
			d.failRun = 0
			d.lastGoodEnd = max(d.lastGoodEnd, end)
			return nil
		}
		if d.failRun == 0 {
			d.failRunStart = it.obs
			d.failRunFirstEnd = end
		}
		d.failRun++
		if d.failRun >= d.failover {
			d.down = true
			d.goodRun = 0
			// The service was seen working until lastGoodEnd: a request in
			// flight across the fault began before the fault did.
			start := min(max(d.failRunStart, d.lastGoodEnd), d.failRunFirstEnd)
			d.cur = Outage{
				Start:      time.Unix(0, start),
				DetectedAt: time.Unix(0, end),
				Failed:     int64(d.failRun),
				Requests:   int64(d.failRun),
			}
		}
		return nil
	}
	d.cur.Requests++
	if !good {
		d.cur.Failed++
		d.goodRun = 0
		return nil
	}
	if d.goodRun == 0 {
		d.goodRunStart = it.obs
		d.goodRunTTFT = it.ttft
		d.reqsBeforeGood = d.cur.Requests - 1
	}
	d.goodRun++
	if d.goodRun < d.recovery {
		return nil
	}
	o := d.cur
	o.End = time.Unix(0, d.goodRunStart)
	o.RecoveredAt = time.Unix(0, end)
	o.Requests = d.reqsBeforeGood
	if o.End.Before(o.Start) {
		// Concurrent requests: the first good one of the recovered run
		// left before the evidence moved the start (a slow good answer or a
		// slow failure). The outage cannot end before it began.
		o.Start = o.End
	}
	o.Duration = o.End.Sub(o.Start)
	if d.goodRunTTFT > 0 {
		o.FirstTokenAt = o.End.Add(time.Duration(d.goodRunTTFT))
	}
	d.down, d.failRun, d.goodRun = false, 0, 0
	d.lastGoodEnd = end
	return &o
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
