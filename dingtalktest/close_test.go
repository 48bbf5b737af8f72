package dingtalktest

import "testing"

// TestCloseTwice: Close is safe to call again, as with a deferred Close
// beside a t.Cleanup one.
func TestCloseTwice(t *testing.T) {
	s := NewServer()
	s.Close()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("the second Close panicked: %v", p)
		}
	}()
	s.Close()
}
