package rtc

import "testing"

// Retransmissions are allowed up to RetransmitShare of the new media sent
// (after the saved-up RetransmitBurst is spent), and a retransmission is
// told from new media by its sequence number.
func TestRetransmitBudget(t *testing.T) {
	const ssrc, size = 1, 1000
	b := newRetransmitBudget()
	b.tokens = 0 // nothing saved up
	seq := uint16(65530)
	for range 100 { // new media across the wrap
		if !b.admit(ssrc, seq, size) {
			t.Fatalf("new packet %d refused", seq)
		}
		seq++
	}
	sent := 0
	for i := range 100 { // the partner asks for all of them again
		if b.admit(ssrc, 65530+uint16(i), size) {
			sent++
		}
	}
	if want := int(RetransmitShare * 100); sent != want {
		t.Fatalf("%d retransmissions allowed after 100 new packets, want %d", sent, want)
	}
	st := b.Stats()
	if st.MediaPackets != 100 || st.Retransmitted != int64(sent) || st.OverBudget != int64(100-sent) {
		t.Fatalf("stats %+v", st)
	}
	// The saved-up budget is bounded: a long quiet spell of NACKs does not
	// allow a burst over RetransmitBurst.
	for range 10_000 {
		b.admit(ssrc, seq, size)
		seq++
	}
	burst := 0
	for i := range 1000 {
		if b.admit(ssrc, seq-1-uint16(i), size) {
			burst++
		}
	}
	if burst > RetransmitBurst/size {
		t.Fatalf("a burst of %d retransmissions of %d bytes; the bound is %d bytes", burst, size, RetransmitBurst)
	}
}
