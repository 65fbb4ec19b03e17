package orgauth

import (
	"sync"
	"testing"
)

// TestResetWhileInUse: Reset (as remote delivery calls it after a peer's
// refusal) while other deliveries prepare sessions with the same
// Initiator: no session fails for it, and under -race no data race.
func TestResetWhileInUse(t *testing.T) {
	r := newRealm(t)
	ini := r.initiator(t)
	acc := r.acceptorFrom(t, r.serverKT)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 5; n++ {
				c, err := ini.NewClientSession("SMTP", serverHost)
				if err == nil {
					err = exchange(c, acc.NewServerSession("SMTP", serverHost))
				}
				if err != nil {
					errs <- err
					return
				}
				ini.Reset()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ini.mu.Lock()
	defer ini.mu.Unlock()
	if len(ini.users) != 0 || len(ini.retired) != 0 {
		t.Fatalf("clients still counted: users %v retired %v", ini.users, ini.retired)
	}
}
