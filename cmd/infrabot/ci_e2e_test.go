package main_test

import (
	"os"
	"testing"

	"github.com/infrabot/infrabot/actions/zuul/zuultest"
)

// The CI jobs and digests modules as the wiring makes them from a config:
// `jobs` and `digest` answer, squads and digests load, the Jenkins token
// stays out of the output.
func TestCIJobsAndDigestWired(t *testing.T) {
	t.Parallel()
	b := newBot(t, startSimulator(t))
	z := zuultest.New("rdo", zuultest.Nested)
	defer z.Close()
	f, err := os.OpenFile(b.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(`ci:
  - {name: rdo-zuul, type: zuul, url: "` + z.URL + `", tenant: rdo, pipelines: [periodic]}
  - {name: jenkins, type: jenkins, url: "http://127.0.0.1:1", user: infrabot, token: "${env:INFRABOT_E2E_JENKINS_TOKEN}", jobs: ["promote-*"]}
squads:
  ci: {members: [alice, bob], channel: default, jobs: ["periodic-*"], stale_after: 36h}
digests:
  - {schedule: "0 9 * * 1-5", timezone: Europe/Prague, channel: default}
`)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	b.env = append(b.env, "INFRABOT_E2E_JENKINS_TOKEN=jenkins-e2e-token")
	out := b.shell("alice", "jobs", "jobs nope", "digest", "help jobs")
	expect(t, out, "no builds seen yet of any watched job", `there is no squad "nope"; squads: ci`,
		"== status digest ==", "environments: 2", "staging", "0/3 servers, not as declared",
		"jobs [squad]")
	refuse(t, out, "jenkins-e2e-token", "checks:", "incidents:")
}
