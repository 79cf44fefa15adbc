package groupcommit

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestGroups: requests that arrive while a commit runs are committed
// together by the next one, each caller gets its own error, and a lone
// request does not wait for company.
func TestGroups(t *testing.T) {
	var mu sync.Mutex
	var groups [][]int
	first, release := make(chan struct{}), make(chan struct{})
	g := New(func(items []int, errs []error) {
		mu.Lock()
		groups = append(groups, append([]int(nil), items...))
		n := len(groups)
		mu.Unlock()
		if n == 2 {
			close(first)
			<-release
		}
		for i, v := range items {
			if v%5 == 0 {
				errs[i] = fmt.Errorf("refused %d", v)
			}
		}
	})
	defer g.Close()
	if err := g.Do(1); err != nil { // alone, at once
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); g.Do(2) }()
	<-first
	errs := make([]error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = g.Do(10 + i) }()
	}
	for g.Waiting() < 10 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if len(groups) != 3 || len(groups[2]) != 10 {
		t.Errorf("groups %v: want [1] [2] and the ten that came during the second", groups)
	}
	for i, err := range errs {
		if ((10+i)%5 == 0) != (err != nil) {
			t.Errorf("request %d: error %v", 10+i, err)
		}
	}
}

// TestClose: Close commits what is queued; later requests fail.
func TestClose(t *testing.T) {
	n := 0
	g := New(func(items []string, errs []error) { n += len(items) })
	if err := g.Do("a"); err != nil {
		t.Fatal(err)
	}
	g.Close()
	g.Close()
	if err := g.Do("b"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if n != 1 {
		t.Errorf("%d committed, want 1", n)
	}
}

// TestGathered: gathered requests wait for company rather than commit one
// by one; a Do request takes them along at once, Close commits them, and
// a lone gathered request is committed once its gather time is over.
func TestGathered(t *testing.T) {
	var mu sync.Mutex
	var groups [][]int
	g := New(func(items []int, errs []error) {
		mu.Lock()
		groups = append(groups, append([]int(nil), items...))
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() { defer wg.Done(); g.DoGathered(i, time.Hour) }()
	}
	for g.Waiting() < 5 {
		runtime.Gosched()
	}
	if err := g.Do(100); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	mu.Lock()
	if len(groups) != 1 || len(groups[0]) != 6 {
		t.Errorf("groups %v: want one of six (the gathered five and the urgent one)", groups)
	}
	groups = nil
	mu.Unlock()

	// A lone gathered request does not wait for a Do forever.
	if err := g.DoGathered(7, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Close does not wait out the gather time.
	for i := range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); g.DoGathered(10+i, time.Hour) }()
	}
	for g.Waiting() < 3 {
		runtime.Gosched()
	}
	g.Close()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(groups) != 2 || len(groups[0]) != 1 || len(groups[1]) != 3 {
		t.Errorf("groups %v: want [7] then the three Close committed", groups)
	}
}
