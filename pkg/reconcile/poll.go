package reconcile

import (
	"context"
	"errors"
	"time"
)

// poll calls cond every interval, the first time at once, until it
// reports done or an error, or ctx ends (then it returns ctx's error). It
// is the one wait loop of the package, after apimachinery's
// PollUntilContextTimeout.
func poll(ctx context.Context, interval time.Duration, cond func(context.Context) (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if done, err := cond(ctx); err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := ctx.Err(); err != nil { // a tick and the end may race
			return err
		}
	}
}

// pollTimeout is poll bounded by timeout: when that time runs out (and ctx
// has not ended), it returns timeoutErr.
func pollTimeout(ctx context.Context, interval, timeout time.Duration, timeoutErr error, cond func(context.Context) (bool, error)) error {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := poll(tctx, interval, cond)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return timeoutErr
	}
	return err
}
