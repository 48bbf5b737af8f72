package dingtoken

import "fmt"

// required returns an error matching ErrInvalidCredentials that names the
// first empty field of typ among fields, given as name, value pairs: a
// request with one would only be refused by DingTalk (a setting missing
// from the environment, say), so none is sent.
func required(key, typ string, fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			return fmt.Errorf("%w: fetch %s: %s.%s is empty", ErrInvalidCredentials, key, typ, fields[i])
		}
	}
	return nil
}
