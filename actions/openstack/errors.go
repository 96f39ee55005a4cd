package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/infrabot/infrabot/actions"
)

// apiError maps a failed OpenStack call to an *actions.Error whose message
// says, in chat-sized words, what went wrong while doing what (e.g.
// "create server staging-web-1"). The raw error, with URL and response
// body, stays in Err for the log.
func apiError(what string, err error) error {
	if err == nil {
		return nil
	}
	var ae *actions.Error
	if errors.As(err, &ae) {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return &actions.Error{Kind: actions.Unavailable, Message: what + ": canceled", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &actions.Error{Kind: actions.Unavailable, Message: what + ": timed out", Err: err}
	}
	var code gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &code) {
		if isNetworkError(err) {
			return &actions.Error{Kind: actions.Unavailable, Message: "cannot reach OpenStack to " + what, Err: err}
		}
		if isDecodeError(err) {
			return &actions.Error{Kind: actions.Unavailable, Message: notUnderstood(what, err), Err: err}
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	msg := faultMessage(code.Body)
	switch status := code.Actual; {
	case (status == http.StatusForbidden || status == http.StatusRequestEntityTooLarge) &&
		strings.Contains(strings.ToLower(msg), "quota exceeded"):
		return &actions.Error{Kind: actions.Unavailable, Message: "quota exceeded: " + msg, Err: err}
	case status == http.StatusUnauthorized:
		return &actions.Error{Kind: actions.Permission,
			Message: "OpenStack no longer accepts infrabot's credentials (" + what + ")", Err: err}
	case status == http.StatusForbidden:
		return &actions.Error{Kind: actions.Permission, Message: withDetail("OpenStack refused to "+what, msg), Err: err}
	case status == http.StatusNotFound:
		return &actions.Error{Kind: actions.NotFound, Message: withDetail(what+": not found", msg), Err: err}
	case status == http.StatusConflict:
		return &actions.Error{Kind: actions.Conflict, Message: withDetail("OpenStack cannot "+what+" now", msg), Err: err}
	case status == http.StatusTooManyRequests || status == http.StatusRequestEntityTooLarge:
		return &actions.Error{Kind: actions.Unavailable, Message: withDetail("OpenStack is rate limiting "+what, msg), Err: err}
	case status >= 500:
		return &actions.Error{Kind: actions.Unavailable,
			Message: fmt.Sprintf("OpenStack failed to %s (HTTP %d)", what, status), Err: err}
	case status >= 400:
		return &actions.Error{Kind: actions.Invalid, Message: withDetail("OpenStack rejected "+what, msg), Err: err}
	}
	return fmt.Errorf("%s: %w", what, err)
}

func withDetail(s, detail string) string {
	if detail == "" {
		return s
	}
	return s + ": " + detail
}

// faultMessage digs the human message out of an OpenStack error body:
// Nova's {"forbidden": {"code": 403, "message": "…"}}, Neutron's
// {"NeutronError": {"message": "…"}}, Keystone's {"error": {"message": "…"}}
// or a bare {"message": "…"}. It returns "" when there is none.
func faultMessage(body []byte) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return ""
	}
	if raw, ok := top["message"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return clip(s)
		}
	}
	for _, raw := range top {
		var inner struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &inner) == nil && inner.Message != "" {
			return clip(inner.Message)
		}
	}
	return ""
}

// clip keeps a remote message to one chat line.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func isNetworkError(err error) bool {
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.As(err, &oe)
}

// isDecodeError says whether err is a success answer whose body could not
// be read as what was asked for: an HTML page or an empty body from a
// proxy in front of the API, or JSON of another shape.
func isDecodeError(err error) bool {
	var syntax *json.SyntaxError
	var shape *json.UnmarshalTypeError
	return errors.As(err, &syntax) || errors.As(err, &shape) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// notUnderstood says that OpenStack's answer to what could not be read;
// err, for the log, says where it went wrong.
func notUnderstood(what string, err error) string {
	var shape *json.UnmarshalTypeError
	if errors.As(err, &shape) {
		return "OpenStack answered the request to " + what + " with JSON of an unexpected shape"
	}
	return "OpenStack answered the request to " + what + " with something that is not JSON"
}

func isServerError(err error) bool {
	var code gophercloud.ErrUnexpectedResponseCode
	return errors.As(err, &code) && code.Actual >= 500
}

func isNotFound(err error) bool {
	return gophercloud.ResponseCodeIs(err, http.StatusNotFound)
}
