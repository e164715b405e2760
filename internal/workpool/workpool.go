// Package workpool runs independent jobs on a few goroutines, each with
// its own expensive state (an engine with its own threads and buffers),
// made once per goroutine rather than once per job.
package workpool

import "sync"

// Each runs job(s, i) for every i in [0, n) on workers goroutines (at
// least one, at most n), each with its own s from open, made before its
// first job.
// A goroutine whose open failed gives that error for every job it takes.
// It returns each job's error, in the jobs' order.
func Each[S any](n, workers int, open func() (S, error), job func(s S, i int) error) []error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(max(workers, 1), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := open()
			for i := range next {
				if err != nil {
					errs[i] = err
					continue
				}
				errs[i] = job(s, i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}
