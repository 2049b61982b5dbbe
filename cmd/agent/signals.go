package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// interrupts makes SIGINT and SIGTERM cancel a run's context, from the
// moment the run first needs it rather than from its start.
//
// Catching a signal is not free. The first signal.Notify starts a thread
// that owns the process's signal mask and hands it each signal in turn:
// about 2 ms of wall time and 3 ms of CPU on the bench machine, a sixth of
// an audit of an unchanged host. That audit takes no lock, writes nothing
// and starts no program, so a signal's default action cannot cut anything
// short. Every step that can (taking the lock, a file written, a program
// started) calls catchInterrupts first.
type interrupts struct {
	cancel context.CancelFunc
	once   sync.Once
	ready  chan struct{} // closed once the signals are caught
	done   chan struct{} // closed by stop
	sig    chan os.Signal
}

type interruptsKey struct{}

// withInterrupts returns a context that SIGINT and SIGTERM cancel once the
// run catches them (catchInterrupts), and the function that stops
// catching them at the end of the run.
func withInterrupts(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	i := &interrupts{cancel: cancel, ready: make(chan struct{}), done: make(chan struct{}), sig: make(chan os.Signal, 1)}
	return context.WithValue(ctx, interruptsKey{}, i), i.stop
}

// startCatching starts catching SIGINT and SIGTERM in the background, for
// a run that will wait on something anyway before it needs them caught.
// A context not made by withInterrupts (a test's) needs nothing.
func startCatching(ctx context.Context) {
	if i, ok := ctx.Value(interruptsKey{}).(*interrupts); ok {
		i.start()
	}
}

// catchInterrupts returns once SIGINT and SIGTERM cancel ctx: before a
// step a signal's default action must not cut short.
func catchInterrupts(ctx context.Context) {
	if i, ok := ctx.Value(interruptsKey{}).(*interrupts); ok {
		i.start()
		<-i.ready
	}
}

func (i *interrupts) start() {
	i.once.Do(func() {
		go func() {
			// Every signal stays caught until stop: a second SIGTERM
			// must not kill a run that is rolling back after the first.
			signal.Notify(i.sig, os.Interrupt, syscall.SIGTERM)
			close(i.ready)
			select {
			case <-i.sig:
				i.cancel()
			case <-i.done:
			}
		}()
	})
}

// stop ends the run's catching and cancels its context.
func (i *interrupts) stop() {
	i.once.Do(func() { close(i.ready) }) // never started: nothing to undo
	<-i.ready
	close(i.done)
	signal.Stop(i.sig)
	i.cancel()
}
