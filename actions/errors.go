package actions

import (
	"errors"
	"fmt"
)

// Kind says what sort of failure an Error is, so callers can decide what to
// do and adapters can decide how to show it.
type Kind string

// Error kinds.
const (
	Invalid     Kind = "invalid"     // the request is malformed or does not fit
	NotFound    Kind = "not found"   // the thing named does not exist
	Permission  Kind = "permission"  // the person may not do this
	Conflict    Kind = "conflict"    // the state forbids it now (a lock, a used approval)
	Unavailable Kind = "unavailable" // a remote service failed or is out of capacity
	Internal    Kind = "internal"    // a bug or an unexpected failure
)

// Error is an error whose Message is meant for the person in the channel.
// Internal details belong in Err, which is logged but never shown in chat.
type Error struct {
	Kind    Kind
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind with a formatted message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the kind of the first *Error in err's chain, or Internal.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// ErrorMessage returns the text to show a person for err: the message of
// the first *Error in its chain, or a generic sentence for anything else so
// that internal details never reach chat.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error; the details are in infrabot's log"
}
