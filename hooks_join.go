package dingtoken

// JoinHooks returns Hooks that call the functions of each of hooks in the
// order given, so that metrics, traces and hooks of your own can observe one
// Manager side by side:
//
//	manager.Hooks = dingtoken.JoinHooks(otelHooks, collector.Hooks(), &dingtoken.Hooks{Retried: myRetried})
//
// Nil Hooks and nil functions are left out, so an event that nothing
// observes stays free; JoinHooks returns nil when nothing observes anything.
// Hooks must not panic: one that does skips the hooks after it for that
// event, and the panic goes where the event came from (a refresh's panic
// becomes ErrFetchPanicked for its callers; a request's, its caller's).
func JoinHooks(hooks ...*Hooks) *Hooks {
	j := &Hooks{
		TokenServed:       joinHook(hooks, func(h *Hooks) func(TokenServedInfo) { return h.TokenServed }),
		FetchStart:        joinHook(hooks, func(h *Hooks) func(FetchStartInfo) { return h.FetchStart }),
		FetchDone:         joinHook(hooks, func(h *Hooks) func(FetchDoneInfo) { return h.FetchDone }),
		LockWaited:        joinHook(hooks, func(h *Hooks) func(LockWaitInfo) { return h.LockWaited }),
		TokenRejected:     joinHook(hooks, func(h *Hooks) func(TokenRejectedInfo) { return h.TokenRejected }),
		Retried:           joinHook(hooks, func(h *Hooks) func(RetriedInfo) { return h.Retried }),
		StoreError:        joinHook(hooks, func(h *Hooks) func(StoreErrorInfo) { return h.StoreError }),
		BackgroundRefresh: joinHook(hooks, func(h *Hooks) func(BackgroundRefreshInfo) { return h.BackgroundRefresh }),
	}
	if j.TokenServed == nil && j.FetchStart == nil && j.FetchDone == nil && j.LockWaited == nil &&
		j.TokenRejected == nil && j.Retried == nil && j.StoreError == nil && j.BackgroundRefresh == nil {
		return nil
	}
	return j
}

// joinHook returns a function calling the non-nil get(h) of hooks in turn;
// the only one itself, or nil if there is none.
func joinHook[I any](hooks []*Hooks, get func(*Hooks) func(I)) func(I) {
	var fns []func(I)
	for _, h := range hooks {
		if h != nil {
			if fn := get(h); fn != nil {
				fns = append(fns, fn)
			}
		}
	}
	switch len(fns) {
	case 0:
		return nil
	case 1:
		return fns[0]
	}
	return func(info I) {
		for _, fn := range fns {
			fn(info)
		}
	}
}
