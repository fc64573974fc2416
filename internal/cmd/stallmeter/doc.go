// Command stallmeter tells how quiet this machine is before tail-latency
// benchmarks are run on it: it sleeps 1ms at a time on one OS thread and
// counts the wake-ups that came late, by how much, and when. On a quiet
// machine a 1ms sleep overshoots by well under a millisecond; on a shared
// virtual machine whose host takes its cores away now and then, some
// wake-ups come 10ms or more late, and a benchmark whose p99 is a few
// milliseconds (BenchmarkPropagation's) misses whenever one lands inside a
// sample.
//
//	go run ./internal/cmd/stallmeter -d 20s
package main
