package dingtoken

import (
	"context"
	"sync"
)

// pending counts work under way that Flush waits for: refreshes, and the
// Store calls left to the background. Unlike a sync.WaitGroup, work may
// start while someone waits; the waiter waits until a moment with none.
type pending struct {
	mu   sync.Mutex    // guards n and idle
	n    int           // work under way
	idle chan struct{} // closed when n drops to 0; nil while n is 0
}

func (p *pending) add() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		p.idle = make(chan struct{})
	}
	p.n++
}

func (p *pending) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n--; p.n == 0 {
		close(p.idle)
		p.idle = nil
	}
}

// wait returns once no work is under way, or with ctx's error.
func (p *pending) wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		idle := p.idle
		p.mu.Unlock()
		if idle == nil {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
