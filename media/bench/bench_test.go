package bench

import (
	"context"
	"testing"
	"time"
)

// TestMeasurementsArePresent checks that the benchmark measures every
// phase and both latencies; how fast they are is for `parley bench`.
func TestMeasurementsArePresent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	phases, err := CallSetup(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Phases {
		if phases[p].N < 2 {
			t.Errorf("phase %s measured %d times: %+v", p, phases[p].N, phases)
		}
	}
	if !(phases["negotiated"].P50 <= phases["dtls_connected"].P50 && phases["dtls_connected"].P50 <= phases["first_frame"].P50) {
		t.Errorf("phases out of order: %+v", phases)
	}
	t.Logf("set-up: %+v", phases)
	lat, err := Latency(ctx, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("latency: %+v", lat)
	if lat.Video.N < 100 || lat.Audio.N < 6 {
		t.Fatalf("too few samples: %+v", lat)
	}
	if lat.Audio.P50 <= 0 || lat.Video.P50 <= 0 {
		t.Fatalf("latencies not measured: %+v", lat)
	}
}
