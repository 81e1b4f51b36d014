package bench

import "testing"

// The recording benchmark records every frame and packet of its clip,
// and reports a disk figure from what it wrote (its CPU figure is the
// benchmark's, not a test's).
func TestRecordBenchmarkRecordsEverything(t *testing.T) {
	r, err := Record(t.TempDir(), recordClip)
	if err != nil {
		t.Fatal(err)
	}
	if r.Frames != 300 || r.Packets != 500 || r.MBPerMinute <= 0 || r.CPUShare <= 0 {
		t.Fatalf("%+v: want 300 pictures, 500 packets, a size and a CPU time", r)
	}
	t.Logf("recording: %.2f%% of a core, %.1f MB per minute", 100*r.CPUShare, r.MBPerMinute)
}
