package sandbox

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// An answer never leaves before Latency has passed since its request arrived, also
// when the sandbox has learnt that its timers fire late and sets them early.
func TestAnswersNeverLeaveEarly(t *testing.T) {
	const latency = 3 * time.Millisecond
	sb := New(Config{Latency: latency})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	ask := func() time.Duration {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/vercel/v2/user", nil)
		req.Header.Set("Authorization", "Bearer "+sb.VercelToken())
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	for i := range 40 {
		if d := ask(); d < latency {
			t.Fatalf("answer %d after %v, before the latency of %v", i, d, latency)
		}
	}
	sb.late.Store(int64(maxTimerLate)) // as after a stall: timers set 2 ms early
	for i := range 20 {
		if d := ask(); d < latency {
			t.Fatalf("with timers set early, answer %d after %v, before the latency of %v", i, d, latency)
		}
	}
	if late := time.Duration(sb.late.Load()); late >= maxTimerLate {
		t.Errorf("the sandbox did not learn from 20 wake-ups: still sets timers %v early", late)
	}
}
