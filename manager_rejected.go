package dingtoken

// maxRejected bounds how many rejected tokens a key remembers.
const maxRejected = 4

// rejectedTokens are the tokens DingTalk last rejected for a key, the latest
// last, none of which is adopted from the Store or installed again. Several,
// not one: a caller that reports an older token rejected after the current
// one must not make the key forget the current one, which may still be in
// the Store. It is never modified once published; a rejection publishes a
// new one.
type rejectedTokens []Token

// reject records that DingTalk rejected t. A t whose Expiry is known (the
// key's token) takes the place of its value recorded without one.
func (ks *keyState) reject(t Token) {
	pushBounded(&ks.rejected, t, maxRejected, func(r Token) bool { return r.Value != t.Value })
}

// wasRejected reports whether DingTalk rejected value lately.
func (ks *keyState) wasRejected(value string) bool {
	if r := ks.rejected.Load(); r != nil {
		for _, t := range *r {
			if t.Value == value {
				return true
			}
		}
	}
	return false
}

// lastRejected returns the latest rejected token whose Expiry is known, one
// that was the key's token, or the zero Token.
func (ks *keyState) lastRejected() Token {
	if r := ks.rejected.Load(); r != nil {
		for i := len(*r) - 1; i >= 0; i-- {
			if !(*r)[i].Expiry.IsZero() {
				return (*r)[i]
			}
		}
	}
	return Token{}
}
