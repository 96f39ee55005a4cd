// Package packaging_test checks the files operators install infrabot
// with: the Dockerfile (parsed, and its build command run here to show
// the binary is static and its health check works) and the systemd unit
// (systemd-analyze verify, and its exposure score).
package packaging_test

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// binary is infrabot built with the Dockerfile's own build command.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "infrabot-packaging")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "infrabot")
	code := 0
	if err := buildAsTheDockerfileDoes(binary); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, …
	args string
}

// parseDockerfile reads the Dockerfile's instructions: comments and
// blank lines dropped, lines ending in a backslash joined to the next.
func parseDockerfile(t testing.TB) []instruction {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur *instruction
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if cur == nil && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		cont := strings.HasSuffix(line, "\\")
		line = strings.TrimSuffix(line, "\\")
		if cur == nil {
			cmd, args, _ := strings.Cut(line, " ")
			cur = &instruction{line: i + 1, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		} else {
			cur.args += " " + strings.TrimSpace(line)
		}
		if !cont {
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		t.Fatalf("Dockerfile:%d: a continuation runs off the end", cur.line)
	}
	known := []string{"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
	for _, in := range out {
		if !slices.Contains(known, in.cmd) {
			t.Errorf("Dockerfile:%d: %q is not a Dockerfile instruction", in.line, in.cmd)
		}
	}
	return out
}

// stages splits instructions at each FROM.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

func find(stage []instruction, cmd string) []instruction {
	var out []instruction
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// execForm reads a JSON array argument (exec form), after options such as
// HEALTHCHECK's --interval and its CMD keyword.
func execForm(t *testing.T, in instruction, after string) []string {
	t.Helper()
	s := in.args
	if after != "" {
		i := strings.Index(s, after)
		if i < 0 {
			t.Fatalf("Dockerfile:%d: %s has no %s", in.line, in.cmd, after)
		}
		s = s[i+len(after):]
	}
	var argv []string
	if err := json.Unmarshal([]byte(strings.TrimSpace(s)), &argv); err != nil {
		t.Fatalf("Dockerfile:%d: %s is not in exec form (a JSON array): %v", in.line, in.cmd, err)
	}
	return argv
}

func dockerEngine() bool {
	for _, tool := range []string{"docker", "podman"} {
		if path, err := exec.LookPath(tool); err == nil && exec.Command(path, "info").Run() == nil {
			return true
		}
	}
	return false
}

// TestDockerfile checks the image's shape by parsing the Dockerfile (no
// container engine runs on our machines; where one does, this says so,
// since no registry is reachable to pull the bases from either): a
// golang build stage and a final stage with the binary alone, a non-root
// user, the config and data volumes, and a HEALTHCHECK on /healthz by
// `infrabot probe`, which it then runs against a live endpoint.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	if dockerEngine() {
		t.Log("a container engine answers here, but no registry is reachable for the base images: checking the Dockerfile by parsing it")
	} else {
		t.Log("no container engine runs here: checking the Dockerfile by parsing it and running its build command")
	}
	st := stages(parseDockerfile(t))
	if len(st) < 2 {
		t.Fatalf("%d stages, want a build stage and a final stage", len(st))
	}
	build, final := st[0], st[len(st)-1]
	if from := build[0].args; !strings.HasPrefix(from, "golang:") || !strings.HasSuffix(from, " AS build") {
		t.Errorf("Dockerfile:%d: the build stage is FROM %s, want golang:… AS build", build[0].line, from)
	}
	if from := final[0].args; strings.HasPrefix(from, "golang") {
		t.Errorf("Dockerfile:%d: the final stage is FROM %s: the toolchain would ship", final[0].line, from)
	}
	var built bool
	for _, r := range find(build, "RUN") {
		if strings.Contains(r.args, "go build") {
			built = true
			if !strings.Contains(r.args, "CGO_ENABLED=0") || !strings.Contains(r.args, "./cmd/infrabot") {
				t.Errorf("Dockerfile:%d: the build is not static: %s", r.line, r.args)
			}
		}
	}
	if !built {
		t.Error("the build stage has no go build")
	}
	for _, c := range find(build, "COPY") {
		for _, src := range strings.Fields(c.args)[:len(strings.Fields(c.args))-1] {
			if _, err := os.Stat(filepath.Join("..", src)); err != nil {
				t.Errorf("Dockerfile:%d: COPY %s: %v", c.line, src, err)
			}
		}
	}
	copies := find(final, "COPY")
	if len(copies) != 1 || !strings.HasPrefix(copies[0].args, "--from=build /out/infrabot ") {
		t.Errorf("the final stage copies %v, want the binary alone from the build stage", copies)
	}
	if len(find(final, "RUN")) > 0 {
		t.Error("the final stage runs commands: it has nothing to run them with")
	}
	users := find(final, "USER")
	if len(users) == 0 {
		t.Fatal("the final stage has no USER: it would run as root")
	}
	if u, _, _ := strings.Cut(users[len(users)-1].args, ":"); u == "root" || u == "0" {
		t.Errorf("Dockerfile:%d: USER %s is root", users[0].line, u)
	}
	var volumes []string
	for _, v := range find(final, "VOLUME") {
		volumes = append(volumes, execForm(t, v, "")...)
	}
	for _, want := range []string{"/etc/infrabot", "/var/lib/infrabot"} {
		if !slices.Contains(volumes, want) {
			t.Errorf("no volume %s: %v", want, volumes)
		}
	}
	hc := find(final, "HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("%d HEALTHCHECKs in the final stage, want 1", len(hc))
	}
	probe := execForm(t, hc[0], "CMD")
	if len(probe) != 3 || probe[1] != "probe" || !strings.HasSuffix(probe[2], "/healthz") {
		t.Fatalf("the health check runs %q, want infrabot probe …/healthz", probe)
	}
	entry := execForm(t, find(final, "ENTRYPOINT")[0], "")
	cmd := execForm(t, find(final, "CMD")[0], "")
	if entry[0] != probe[0] || !strings.HasPrefix(entry[0], strings.TrimSuffix(strings.Fields(copies[0].args)[2], "/")) {
		t.Errorf("ENTRYPOINT %q and the health check %q are not the binary copied in (%s)", entry, probe, copies[0].args)
	}
	if len(cmd) != 3 || cmd[0] != "run" || cmd[1] != "--config" || !strings.HasPrefix(cmd[2], "/etc/infrabot/") {
		t.Errorf("CMD %q does not run the config from the config volume", cmd)
	}

	// The health check's own command, against an admin listener that is
	// up and one that is not.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer up.Close()
	if out, err := exec.Command(binary, "probe", up.URL+"/healthz").CombinedOutput(); err != nil {
		t.Errorf("infrabot probe of a live /healthz: %v\n%s", err, out)
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	if out, err := exec.Command(binary, "probe", down.URL+"/healthz").CombinedOutput(); err == nil {
		t.Errorf("infrabot probe of a dead endpoint succeeded:\n%s", out)
	}
}

// buildAsTheDockerfileDoes runs the Dockerfile's go build here, output to
// out, and checks that the binary is static (no ELF interpreter: it runs
// on a base with no libc).
func buildAsTheDockerfileDoes(out string) error {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`RUN CGO_ENABLED=0 go build (.*) -o /out/infrabot (\./cmd/infrabot)`).FindStringSubmatch(string(data))
	if m == nil {
		return fmt.Errorf("the Dockerfile has no `RUN CGO_ENABLED=0 go build … -o /out/infrabot ./cmd/infrabot`")
	}
	flags := strings.ReplaceAll(m[1], "${VERSION}", "packaging-test")
	args, err := splitQuoted(flags)
	if err != nil {
		return err
	}
	cmd := exec.Command("go", append(append([]string{"build"}, args...), "-o", out, m[2])...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building as the Dockerfile does: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("the binary the Dockerfile builds is dynamically linked")
		}
	}
	v, err := exec.Command(out, "version").Output()
	if err != nil || strings.TrimSpace(string(v)) != "infrabot packaging-test" {
		return fmt.Errorf("the built binary says %q (%v), want its stamped version", v, err)
	}
	return nil
}

// splitQuoted splits a shell word list with double quotes.
func splitQuoted(s string) ([]string, error) {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unbalanced quote in %q", s)
			}
			out = append(out, s[1:end+1])
			s = s[end+2:]
			continue
		}
		word, rest, _ := strings.Cut(s, " ")
		out = append(out, word)
		s = rest
	}
	return out, nil
}

// TestSystemdUnit runs systemd-analyze verify on the unit (with
// ExecStart pointed at the binary built here, the only change: verify
// insists the executable exists) and reads its exposure score from
// systemd-analyze security: the hardening must keep it "OK" (≤ 2.0).
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is missing (make test installs it: scripts/packaging/ensure.sh)")
		}
		t.Skip("systemd-analyze is missing: run scripts/packaging/ensure.sh")
	}
	data, err := os.ReadFile("infrabot.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=infrabot", "NoNewPrivileges=yes",
		"ExecReload=/bin/kill -HUP $MAINPID", "ExecStart=/usr/local/bin/infrabot run --config /etc/infrabot/infrabot.yaml"} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("the unit lacks %s", want)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "infrabot.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/infrabot", binary)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, _ = exec.Command(analyze, "security", "--offline=yes", "--no-pager", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for infrabot\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security said:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("exposure level %.1f", score)
	if score > 2.0 {
		t.Errorf("exposure level %.1f, want at most 2.0 (OK):\n%s", score, out)
	}
}
