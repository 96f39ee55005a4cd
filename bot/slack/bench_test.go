package slack_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
	islack "github.com/infrabot/infrabot/bot/slack"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

// nopRouter takes every line and answers nothing: the benchmark measures
// Slack's side of the adapter (verify, dedupe, queue, acknowledge), not
// the engine.
type nopRouter struct{ n atomic.Int64 }

func (r *nopRouter) Handle(ctx context.Context, in bot.Incoming) (actions.Reply, bool) {
	r.n.Add(1)
	return actions.Reply{}, false
}

// BenchmarkSlashCommandAck sends signed slash commands through real HTTP
// on loopback to the adapter ("adapter") and, in the same run, to a
// net/http handler that only checks the signature ("bare-hmac"). With
// -count the two alternate, so that a busy machine weighs on both alike.
// Compare req/s.
func BenchmarkSlashCommandAck(b *testing.B) {
	b.Run("adapter", benchAdapter)
	b.Run("bare-hmac", benchBareHMAC)
}

func benchAdapter(b *testing.B) {
	fake := slacktest.NewServer(b, botToken)
	a, err := islack.New(islack.Options{BotToken: botToken, SigningSecret: secret, APIURL: fake.APIURL(), Router: &nopRouter{}, Queue: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close(context.Background())
	benchAck(b, a.Handler())
}

func benchBareHMAC(b *testing.B) {
	benchAck(b, slacktest.VerifyOnly(secret))
}

func benchAck(b *testing.B, h http.Handler) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	app := &slacktest.App{URL: srv.URL, Secret: secret}
	reqs := make([]*slacktest.Request, b.N)
	for i := range reqs {
		reqs[i] = app.CommandRequest(bob, infra, "status staging")
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			r := reqs[i]
			req, _ := http.NewRequest(http.MethodPost, srv.URL+r.Path, bytes.NewReader(r.Body))
			req.Header = r.Header
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat[i] = time.Since(t0)
			if resp.StatusCode != http.StatusOK {
				failed.Add(1)
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests were not acknowledged with 200", n, b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()), "p99-µs")
}
