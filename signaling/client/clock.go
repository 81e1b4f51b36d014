package client

// clock.go: the server's clock as this kiosk knows it. Each answer that
// carries the server's time (a welcome, an ack), with when its request left
// and when the answer came, is one sample: the server's time is taken to be
// that of the round trip's midpoint, wrong by at most half the round trip.
// The estimate is the sample of the last OffsetWindow with the shortest
// round trip (NTP's clock filter), so a message held up by a busy machine
// or network does not move the clock. A sample that the estimate does
// not fit (the true offset lies between the server's time minus the
// answer's arrival and minus the request's departure) means a clock was
// stepped: the older samples are dropped at once.

import "time"

// OffsetWindow is how long a sample may stand for the clock: a local clock
// that was stepped is followed within it.
const OffsetWindow = 2 * time.Minute

// maxOffsetSamples bounds the samples kept (an ack comes every few seconds).
const maxOffsetSamples = 64

type offsetSample struct {
	offset time.Duration // server clock minus local clock
	rtt    time.Duration
	at     time.Time // when the answer came
}

// offsetEstimate keeps the recent samples. Not safe for concurrent use:
// the Session's mutex guards it.
type offsetEstimate struct {
	samples []offsetSample
	best    offsetSample
}

// add takes one sample: the server's time serverMS, in an answer to a
// request sent at sent and received at recv.
func (o *offsetEstimate) add(serverMS int64, sent, recv time.Time) {
	rtt := max(recv.Sub(sent), 0)
	server := time.UnixMilli(serverMS)
	s := offsetSample{offset: server.Sub(sent.Add(rtt / 2)), rtt: rtt, at: recv}
	// The server's time has millisecond steps: the bounds allow for one.
	lo, hi := server.Sub(recv)-time.Millisecond, server.Add(time.Millisecond).Sub(sent)
	stepped := len(o.samples) > 0 && (o.best.offset < lo || o.best.offset > hi)
	kept := o.samples[:0]
	for _, x := range o.samples {
		if !stepped && recv.Sub(x.at) <= OffsetWindow {
			kept = append(kept, x)
		}
	}
	o.samples = append(kept, s)
	if len(o.samples) > maxOffsetSamples {
		o.samples = o.samples[len(o.samples)-maxOffsetSamples:]
	}
	o.best = o.samples[0]
	for _, x := range o.samples[1:] {
		if x.rtt <= o.best.rtt {
			o.best = x
		}
	}
}

// offset is the server's clock minus this one's (0 before any sample).
func (o *offsetEstimate) offset() time.Duration { return o.best.offset }
