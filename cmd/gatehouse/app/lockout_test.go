package app_test

import (
	"sync"
	"testing"

	"gatehouse/config"
)

// 40 parallel sign-ins on one account, 39 wrong and the right password
// among them (issue 12): the lockout reserves each attempt before the hash
// is checked, so at most lockout.max_failures passwords are tried. The
// right one gets in only when it was among those; every other answer is
// 423 account_locked, and once locked the right password is refused too.
// On both backends (the lockout lives in the ephemeral store).
func TestLockoutRightPasswordAmongParallelGuesses(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		var max int
		s := newStack(t, backend, func(c *config.Config) { c.RateLimits.Login, max = config.Rate{}, c.Accounts.Lockout.MaxFailures })
		email := uniqueEmail("flood")
		s.signUp(s.client(), email)
		const n, right = 40, 17
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			password := "Wrong-Horse-9"
			if i == right {
				password = pw
			}
			wg.Go(func() {
				codes[i] = s.client().post("/auth/login", map[string]any{"email": email, "password": password}).Status
			})
		}
		wg.Wait()
		count := map[int]int{}
		for _, c := range codes {
			count[c]++
		}
		checked := count[401] + count[200]
		if checked > max || count[401]+count[423]+count[200] != n || count[200] > 1 {
			t.Fatalf("answers %v: want at most %d passwords checked (401, or 200 for the right one) and the rest 423", count, max)
		}
		if count[200] == 1 && codes[right] != 200 {
			t.Fatalf("a wrong password got in: %v", codes)
		}
		if count[401] == max {
			expect(t, s.client().post("/auth/login", map[string]any{"email": email, "password": pw}), 423, "account_locked")
		}
		t.Logf("%s: %v (right password: %d)", backend, count, codes[right])
	})
}
