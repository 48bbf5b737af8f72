package dingtoken

import (
	"context"
	"errors"
	"fmt"
)

// fetchWithSuiteTicket asks suiteTicket for the suite ticket and fetches
// with it. DingTalk takes only the newest ticket it pushed: when it answers
// that the ticket is not valid (invalidSuiteTicket, or the legacy 40085) and
// suiteTicket now returns another one, the push arrived, on this replica or
// another, while the request was on its way, and the fetch is sent once more
// with the new ticket. Without that the caller would get
// ErrInvalidCredentials, and the key a backoff, for a ticket already
// replaced. A ticket that is still the newest is not retried.
func fetchWithSuiteTicket(ctx context.Context, key, secret string, suiteTicket func(context.Context) (string, error), fetch func(ticket string) (Token, error)) (Token, error) {
	ticket, err := suiteTicket(ctx)
	if err != nil {
		return Token{}, fetchError(key, fmt.Errorf("getting the suite ticket: %w", err), secret)
	}
	tok, err := fetch(ticket)
	if err == nil || !isStaleSuiteTicket(err) {
		return tok, err
	}
	if next, terr := suiteTicket(ctx); terr == nil && next != "" && next != ticket {
		return fetch(next)
	}
	return tok, err
}

// isStaleSuiteTicket reports whether err is DingTalk's answer that the suite
// ticket sent is not valid: docs/01-应用开发/02-4a8AMF6u2A-服务端API/0034-obtain-the-access-token-of-the-authorized-enterprise-1.md
// (invalidSuiteTicket) and docs/01-应用开发/02-4a8AMF6u2A-服务端API/0013-server-api-error-codes-1.md (40085).
func isStaleSuiteTicket(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && (apiErr.Code == "invalidSuiteTicket" || apiErr.Code == "40085")
}
