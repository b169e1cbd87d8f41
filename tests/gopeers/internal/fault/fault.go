// Package fault injects test faults into the Go test plugin: hangs, crashes,
// panics, errors and delays in chosen methods, and misbehaviour at start-up.
//
// A spec is a comma-separated list of items KIND[=PARAM][@METHOD][#N]:
//
//	hang            block forever
//	crash[=CODE]    write a line to stderr and os.Exit(CODE), default 2
//	panic[=MSG]     panic inside the call (the process dies with exit status 2)
//	error[=MSG]     return an error
//	slow=DURATION   sleep, then answer normally
//
// METHOD names the method: "runner.GetTreatmentForRequest", "manager.GetEngineInfo",
// or an unqualified name matching either side ("Configure"). The default is
// runner.GetTreatmentForRequest. #N fires from the Nth call of that method on
// (1-based, default 1).
//
// Start-up items (no METHOD) act before the plugin serves:
//
//	startup-exit[=CODE]  exit with CODE (default 3) before the handshake
//	startup-hang         never print the handshake line
//	startup-garbage      print a line that is not a handshake, then serve
package fault

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EnvVar is the environment variable read at start-up.
const EnvVar = "TURNOUT_TEST_FAULT"

const defaultMethod = "runner.GetTreatmentForRequest"

type item struct {
	kind   string
	param  string
	method string
	from   int
}

// Set holds the active items and per-method call counters.
type Set struct {
	mu    sync.Mutex
	items []item
	calls map[string]int
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{calls: map[string]int{}} }

// Add parses spec and adds its items.
func (s *Set) Add(spec string) error {
	items, err := parse(spec)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.items = append(s.items, items...)
	s.mu.Unlock()
	return nil
}

func parse(spec string) ([]item, error) {
	var out []item
	for _, raw := range strings.Split(spec, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		it := item{from: 1}
		if i := strings.LastIndex(raw, "#"); i >= 0 {
			n, err := strconv.Atoi(raw[i+1:])
			if err != nil || n < 1 {
				return nil, fmt.Errorf("fault %q: bad call number after #", raw)
			}
			it.from = n
			raw = raw[:i]
		}
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			it.method = raw[i+1:]
			raw = raw[:i]
		}
		if i := strings.Index(raw, "="); i >= 0 {
			it.kind, it.param = raw[:i], raw[i+1:]
		} else {
			it.kind = raw
		}
		switch it.kind {
		case "hang", "crash", "panic", "error":
		case "slow":
			if _, err := time.ParseDuration(it.param); err != nil {
				return nil, fmt.Errorf("fault %q: slow needs a duration, e.g. slow=200ms", raw)
			}
		case "startup-exit", "startup-hang", "startup-garbage":
			if it.method != "" {
				return nil, fmt.Errorf("fault %q: start-up faults take no method", raw)
			}
		default:
			return nil, fmt.Errorf("fault %q: unknown kind %q", raw, it.kind)
		}
		if it.method == "" && !strings.HasPrefix(it.kind, "startup-") {
			it.method = defaultMethod
		}
		out = append(out, it)
	}
	return out, nil
}

func matches(pattern, method string) bool {
	if pattern == method {
		return true
	}
	if !strings.Contains(pattern, ".") {
		if i := strings.Index(method, "."); i >= 0 {
			return method[i+1:] == pattern
		}
	}
	return false
}

// Startup performs the start-up items. It returns normally unless one says
// otherwise.
func (s *Set) Startup() {
	s.mu.Lock()
	items := append([]item(nil), s.items...)
	s.mu.Unlock()
	for _, it := range items {
		switch it.kind {
		case "startup-exit":
			code := 3
			if it.param != "" {
				code, _ = strconv.Atoi(it.param)
			}
			fmt.Fprintf(os.Stderr, "turnout test fault: startup-exit %d\n", code)
			os.Exit(code)
		case "startup-hang":
			fmt.Fprintln(os.Stderr, "turnout test fault: startup-hang")
			// Sleep rather than block on nothing: with no other goroutine alive
			// the runtime would call an empty select a deadlock and exit.
			for {
				time.Sleep(time.Hour)
			}
		case "startup-garbage":
			fmt.Fprintln(os.Stdout, "turnout test fault: this is not a handshake line")
		}
	}
}

// Enter counts a call of method and performs the first matching item. It
// returns an error for "error" items, sleeps for "slow" ones, and never returns
// for hang, crash and panic.
func (s *Set) Enter(method string) error {
	s.mu.Lock()
	s.calls[method]++
	n := s.calls[method]
	var hit *item
	for i := range s.items {
		it := s.items[i]
		if it.method != "" && matches(it.method, method) && n >= it.from {
			hit = &it
			break
		}
	}
	s.mu.Unlock()
	if hit == nil {
		return nil
	}
	switch hit.kind {
	case "hang":
		select {}
	case "crash":
		code := 2
		if hit.param != "" {
			code, _ = strconv.Atoi(hit.param)
		}
		fmt.Fprintf(os.Stderr, "turnout test fault: crash in %s (call %d), exit %d\n", method, n, code)
		os.Exit(code)
	case "panic":
		msg := hit.param
		if msg == "" {
			msg = "turnout test fault: panic in " + method
		}
		panic(msg)
	case "error":
		msg := hit.param
		if msg == "" {
			msg = "turnout test fault: error in " + method
		}
		return errors.New(msg)
	case "slow":
		d, _ := time.ParseDuration(hit.param)
		time.Sleep(d)
	}
	return nil
}
