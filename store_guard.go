package dingtoken

import (
	"errors"
	"fmt"
)

// errStorePanicked is wrapped by the error a Store call that panicked
// becomes. A Store is best effort: its panic (a bug in a Store of another
// package meeting a value it does not expect, say) costs this refresh the
// Store, like any other store error, and not the caller's request.
var errStorePanicked = errors.New("dingtoken: the Store panicked")

// guardStore runs call, a call of the Store, and returns its error, or one
// wrapping errStorePanicked if it panicked; the panic's value is not shown:
// it may hold a token. A call that runs runtime.Goexit still ends the
// goroutine.
func guardStore(call func() error) (err error) {
	returned := false
	defer func() {
		if !returned {
			err = fmt.Errorf("%w: %s", errStorePanicked, describePanic(recover()))
		}
	}()
	err = call()
	returned = true
	return err
}
