package pagerduty

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/infrabot/infrabot/actions/oncall"
)

// Incidents takes what was done in PagerDuty to infrabot's incidents; the
// on-call module implements it (oncall.Module.FromPagerDuty).
type Incidents interface {
	// FromPagerDuty acknowledges or resolves (action oncall.Acknowledge
	// or oncall.Resolve) the incident whose dedup key is dedupKey, as by.
	FromPagerDuty(ctx context.Context, dedupKey, action, by string) error
}

// MaxWebhookBody bounds a webhook delivery.
const MaxWebhookBody = 1 << 20

// Webhook is the endpoint of a PagerDuty v3 webhook subscription: it
// verifies each delivery's X-PagerDuty-Signature against the
// subscription's secrets (several, while a secret is rotated) and passes
// incident.acknowledged and incident.resolved on to incidents. Other
// event types are answered 200 and ignored. A delivery without a valid
// signature gets 401 and changes nothing.
func Webhook(secrets []string, incidents Incidents, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := verify(secrets, r.Header.Get("X-PagerDuty-Signature"), body, sum); err != nil {
			log.Warn("a PagerDuty webhook delivery without a valid signature was refused", "remote", r.RemoteAddr, "reason", err)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		var d delivery
		if err := json.Unmarshal(body, &d); err != nil {
			http.Error(w, "not a webhook event", http.StatusBadRequest)
			return
		}
		action := ""
		switch d.Event.EventType {
		case "incident.acknowledged":
			action = oncall.Acknowledge
		case "incident.resolved":
			action = oncall.Resolve
		}
		if action == "" || d.Event.Data.IncidentKey == "" {
			w.WriteHeader(http.StatusOK)
			return
		}
		by := d.Event.Agent.Summary
		if err := incidents.FromPagerDuty(r.Context(), d.Event.Data.IncidentKey, action, by); err != nil {
			// PagerDuty delivers again on an error: the store may be back.
			log.Error("a PagerDuty webhook could not be applied", "event", d.Event.EventType, "incident_key", d.Event.Data.IncidentKey, "err", err)
			http.Error(w, "not applied", http.StatusInternalServerError)
			return
		}
		log.Info("PagerDuty webhook applied", "event", d.Event.EventType, "incident_key", d.Event.Data.IncidentKey, "by", by)
		w.WriteHeader(http.StatusOK)
	})
}

// delivery is the part of a v3 webhook payload infrabot reads.
type delivery struct {
	Event struct {
		ID        string `json:"id"`
		EventType string `json:"event_type"`
		Agent     struct {
			Summary string `json:"summary"`
		} `json:"agent"`
		Data struct {
			ID          string `json:"id"`
			Type        string `json:"type"`
			IncidentKey string `json:"incident_key"`
			Status      string `json:"status"`
		} `json:"data"`
	} `json:"event"`
}

// Sign returns the X-PagerDuty-Signature PagerDuty sends for body under
// secrets: v1=<hex HMAC-SHA256> for each, comma-separated.
func Sign(secrets []string, body []byte) string {
	var sigs []string
	for _, s := range secrets {
		sigs = append(sigs, "v1="+mac(s, body))
	}
	return strings.Join(sigs, ",")
}

func mac(secret string, body []byte) string {
	return hex.EncodeToString(sum(secret, body))
}

// sum is the HMAC-SHA256 of body under secret.
func sum(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// MaxSignatures bounds the entries of X-PagerDuty-Signature a delivery
// may carry. PagerDuty sends one per active secret of the subscription
// (two while one is rotated); a header with more is refused unread, so
// that refusing a forged delivery costs at most one HMAC of its body per
// secret.
const MaxSignatures = 8

// Verify reports whether header holds a v1 signature of body under one of
// secrets, compared in constant time.
func Verify(secrets []string, header string, body []byte) bool {
	return verify(secrets, header, body, sum) == nil
}

// verify is Verify with the MAC passed in, so that a test can count how
// many a delivery costs; it says why a delivery is refused. Entries that
// are not "v1=" and 64 hex digits are skipped; the body's MAC is computed
// once per secret, and only when there is an entry to compare it with.
func verify(secrets []string, header string, body []byte, mac func(secret string, body []byte) []byte) error {
	entries := strings.SplitN(header, ",", MaxSignatures+1)
	if len(entries) > MaxSignatures {
		return fmt.Errorf("X-PagerDuty-Signature has more than %d entries", MaxSignatures)
	}
	var sigs [][]byte
	for _, e := range entries {
		h, ok := strings.CutPrefix(strings.TrimSpace(e), "v1=")
		if !ok || len(h) != 2*sha256.Size {
			continue
		}
		if sig, err := hex.DecodeString(h); err == nil {
			sigs = append(sigs, sig)
		}
	}
	if len(sigs) == 0 {
		return errors.New("X-PagerDuty-Signature has no v1 signature")
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		want := mac(s, body)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	return errors.New("no v1 signature matches a secret")
}
