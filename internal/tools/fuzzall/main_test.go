package main

import "testing"

func TestCoordinatorDeadlineRace(t *testing.T) {
	for _, c := range []struct {
		name, output string
		race         bool
	}{
		{"the race, as CI printed it", `fuzz: elapsed: 4s, execs: 27196 (0/sec), new interesting: 3 (total: 120)
--- FAIL: FuzzParseError (3.62s)
    context deadline exceeded
FAIL
exit status 1
FAIL	github.com/steampipe-tokens/steampipe-plugin-tokens/internal/clerk	3.657s
`, true},
		{"a failing input", `fuzz: elapsed: 0s, minimizing
--- FAIL: FuzzParseError (0.15s)
    --- FAIL: FuzzParseError (0.00s)
        clerk_test.go:6: boom "x000"
    
    Failing input written to testdata/fuzz/FuzzParseError/1de061fa29cfbb3d
    To re-run:
    go test -run=FuzzParseError/1de061fa29cfbb3d
FAIL
`, false},
		{"a hung worker", `--- FAIL: FuzzParseError (10.02s)
    fuzzing process hung or terminated unexpectedly: exit status 2
FAIL
`, false},
		{"the deadline, then more", `--- FAIL: FuzzParseError (3.62s)
    context deadline exceeded
    clerk_test.go:6: boom
FAIL
`, false},
		{"another target's deadline", `--- FAIL: FuzzScrub (3.62s)
    context deadline exceeded
FAIL
`, false},
		{"no failure line (a build error)", "# github.com/x/clerk\n./clerk.go:1:1: syntax error\nFAIL\n", false},
	} {
		if got := coordinatorDeadlineRace(c.output, "FuzzParseError"); got != c.race {
			t.Errorf("%s: coordinatorDeadlineRace = %v, want %v", c.name, got, c.race)
		}
	}
}
