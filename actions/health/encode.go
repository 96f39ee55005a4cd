package health

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/infrabot/infrabot/actions/jsonenc"
)

// appendJSON appends rec encoded exactly as encoding/json encodes it (a
// test holds the two equal byte for byte), without reflection: a check's
// record, with its last 30 results, is encoded again with every result,
// and encoding/json spent about 5% of the CPU of 5,000 checks every 10 s
// doing it.
func (rec *record) appendJSON(b []byte) ([]byte, error) {
	e := objectEncoder{b: append(b, '{')}
	if rec.Failures != 0 {
		e.field("failures")
		e.b = strconv.AppendInt(e.b, int64(rec.Failures), 10)
	}
	if rec.Successes != 0 {
		e.field("successes")
		e.b = strconv.AppendInt(e.b, int64(rec.Successes), 10)
	}
	e.time("failing_since", rec.FailingSince)
	if rec.Last != nil {
		e.field("last")
		e.result(*rec.Last)
	}
	if len(rec.History) > 0 {
		e.field("history")
		appendList(&e, rec.History, e.result)
	}
	if len(rec.Hours) > 0 {
		e.field("hours")
		appendList(&e, rec.Hours, e.hour)
	}
	if rec.Incident != 0 {
		e.field("incident")
		e.b = strconv.AppendInt(e.b, rec.Incident, 10)
	}
	if rec.Snooze != nil {
		e.field("snooze")
		v, err := json.Marshal(rec.Snooze) // rare: not worth encoding by hand
		if err != nil {
			return nil, err
		}
		e.b = append(e.b, v...)
	}
	e.time("first_seen", rec.FirstSeen)
	e.time("last_ping", rec.LastPing)
	e.time("started", rec.Started)
	if e.err != nil {
		return nil, e.err
	}
	return append(e.b, '}'), nil
}

// sizeHint is about how long rec's encoding is, a little more rather than
// less, so that it is encoded into one allocation of its own size.
func (rec *record) sizeHint() int {
	n := 320 + 40*len(rec.Hours) // fields, times, a snooze
	if rec.Last != nil {
		n += 80 + len(rec.Last.Detail)
	}
	for _, r := range rec.History {
		n += 80 + len(r.Detail)
	}
	return n
}

// objectEncoder appends the fields of one JSON object.
type objectEncoder struct {
	b     []byte
	comma bool
	err   error
}

func (e *objectEncoder) field(name string) {
	if e.comma {
		e.b = append(e.b, ',')
	}
	e.comma = true
	e.b = append(e.b, '"')
	e.b = append(e.b, name...)
	e.b = append(e.b, '"', ':')
}

// time appends a time field unless t is zero (omitzero).
func (e *objectEncoder) time(name string, t time.Time) {
	if t.IsZero() {
		return
	}
	e.field(name)
	e.timeValue(t)
}

func (e *objectEncoder) timeValue(t time.Time) {
	b, err := jsonenc.AppendTime(e.b, t)
	if err != nil && e.err == nil {
		e.err = err // as encoding/json refuses it
	}
	e.b = b
}

// result appends r as an object of its own.
func (e *objectEncoder) result(r Result) {
	e.b = append(e.b, `{"t":`...)
	e.timeValue(r.Time)
	e.b = append(e.b, `,"ok":`...)
	e.b = strconv.AppendBool(e.b, r.OK)
	if r.Detail != "" {
		e.b = append(e.b, `,"d":`...)
		e.b = jsonenc.AppendString(e.b, r.Detail)
	}
	if r.Latency != 0 {
		e.b = append(e.b, `,"l":`...)
		e.b = strconv.AppendInt(e.b, int64(r.Latency), 10)
	}
	e.b = append(e.b, '}')
}

// hour appends h as an object of its own.
func (e *objectEncoder) hour(h hour) {
	e.b = append(e.b, `{"h":`...)
	e.b = strconv.AppendInt(e.b, h.Hour, 10)
	e.b = append(e.b, `,"u":`...)
	e.b = strconv.AppendInt(e.b, int64(h.Up), 10)
	e.b = append(e.b, `,"n":`...)
	e.b = strconv.AppendInt(e.b, int64(h.Total), 10)
	e.b = append(e.b, '}')
}

// appendList appends items as a JSON array, each by item.
func appendList[T any](e *objectEncoder, items []T, item func(T)) {
	e.b = append(e.b, '[')
	for i, v := range items {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		item(v)
	}
	e.b = append(e.b, ']')
}
