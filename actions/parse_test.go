package actions_test

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/infrabot/infrabot/actions"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     actions.Command
		err      string
	}{
		{name: "with prefix", in: "/infra provision staging", want: actions.Command{Name: "provision", Args: []string{"staging"}}},
		{name: "without prefix", in: "status", want: actions.Command{Name: "status"}},
		{name: "case of the name", in: "STATUS", want: actions.Command{Name: "status"}},
		{name: "double quotes", in: `lock staging "db upgrade, back at 3"`, want: actions.Command{Name: "lock", Args: []string{"staging", "db upgrade, back at 3"}}},
		{name: "single quotes", in: `deny 4 'not now'`, want: actions.Command{Name: "deny", Args: []string{"4", "not now"}}},
		{name: "curly quotes from chat clients", in: "lock staging “db upgrade”", want: actions.Command{Name: "lock", Args: []string{"staging", "db upgrade"}}},
		{name: "escape in double quotes", in: `lock staging "say \"hi\""`, want: actions.Command{Name: "lock", Args: []string{"staging", `say "hi"`}}},
		{name: "bool flag", in: "unlock staging --force", want: actions.Command{Name: "unlock", Args: []string{"staging"}, Flags: map[string]string{"force": "true"}}},
		{name: "flag with value", in: "runs --limit=5", want: actions.Command{Name: "runs", Flags: map[string]string{"limit": "5"}}},
		{name: "double dash ends flags", in: "lock staging -- --not-a-flag", want: actions.Command{Name: "lock", Args: []string{"staging", "--not-a-flag"}}},
		{name: "flag with a quoted value", in: `deploy staging --msg="a b" --ref='v1'`, want: actions.Command{Name: "deploy", Args: []string{"staging"}, Flags: map[string]string{"msg": "a b", "ref": "v1"}}},
		{name: "quoted flag name is an argument", in: `lock staging --"force=x"`, want: actions.Command{Name: "lock", Args: []string{"staging", "--force=x"}}},
		{name: "quoted dashes are an argument", in: `lock staging "--force"`, want: actions.Command{Name: "lock", Args: []string{"staging", "--force"}}},
		{name: "empty", in: "   ", err: "no command given"},
		{name: "prefix alone", in: "/infra", err: "no command given"},
		{name: "unclosed quote", in: `lock "staging`, err: "quote is not closed"},
		{name: "control character", in: "lock staging\x00", err: "control character"},
		// Quotes keep spaces, not control characters: a newline or an ESC
		// in a lock reason would reach the audit log and chat as typed.
		{name: "newline in double quotes", in: "lock staging \"db\n99 forged \x1b[2J\"", err: "control character"},
		{name: "escaped control character", in: "lock staging \"db\\\x1b[2J\"", err: "control character"},
		{name: "control character in single quotes", in: "deny 4 'not\rnow'", err: "control character"},
		{name: "C1 control character in curly quotes", in: "lock staging “db\u009bupgrade”", err: "control character"},
		{name: "control character in a quoted flag value", in: "deploy staging --msg=\"a\nb\"", err: "control character"},
		{name: "tab in quotes, as outside them", in: "lock staging \"db\tupgrade\"", want: actions.Command{Name: "lock", Args: []string{"staging", "db\tupgrade"}}},
		{name: "bad flag", in: "unlock staging --fo!rce", err: "not a valid flag"},
		{name: "repeated flag", in: "unlock staging --force --force", err: "given twice"},
		{name: "flag first", in: "--force unlock", err: "starts with its name"},
		{name: "invalid utf-8", in: "lock \xff", err: "UTF-8"},
		{name: "too long", in: strings.Repeat("a", 5000), err: "too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := actions.Parse(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse(%q) error = %v, want %q", tc.in, err, tc.err)
				}
				if actions.ErrorKind(err) != actions.Invalid {
					t.Errorf("error kind %s, want invalid", actions.ErrorKind(err))
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if tc.want.Flags == nil {
				tc.want.Flags = map[string]string{}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestBindRefusesWhatDoesNotFit(t *testing.T) {
	t.Parallel()
	ack := &actions.Action{Name: "ack", Args: []actions.Arg{{Name: "id", Kind: actions.ArgID}}}
	lock := &actions.Action{Name: "lock", Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}, {Name: "reason", Kind: actions.ArgText, Optional: true}}}
	runs := &actions.Action{Name: "runs", Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv, Optional: true}}}
	whoami := &actions.Action{Name: "whoami"}
	audit := &actions.Action{Name: "audit", Args: []actions.Arg{{Name: "count", Kind: actions.ArgCount, Optional: true}}}
	tests := []struct {
		name string
		a    *actions.Action
		in   string
		args map[string]string
		err  string
	}{
		// One chat bot read "ack incident 1234" as a 1,234-minute override.
		{"word where an id belongs", ack, "ack incident 1234", nil, `"incident" is not an id`},
		{"left over argument", ack, "ack 12 34", nil, `ack takes one argument, but "34" is left over`},
		{"left over after an optional one", runs, "runs staging now", nil, `runs takes at most one argument, but "now" is left over`},
		{"left over with none taken", whoami, "whoami me", nil, `whoami takes no arguments, but "me" is left over`},
		{"a count", audit, "audit 0", nil, `"0" is not a count from 1 to 1000`},
		{"missing id", ack, "ack", nil, "ack needs an id"},
		{"zero id", ack, "ack 0", nil, "not an id"},
		{"hash id", ack, "ack #9", map[string]string{"id": "9"}, ""},
		{"free text reason", lock, "lock Staging db upgrade now", map[string]string{"env": "staging", "reason": "db upgrade now"}, ""},
		{"missing env", lock, "lock", nil, "lock needs an environment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := actions.Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			args, _, err := actions.Bind(tc.a, cmd)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "Usage: `") {
					t.Fatalf("Bind(%q) error = %v, want %q with the usage", tc.in, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(args, tc.args) {
				t.Errorf("Bind(%q) = %v, %v; want %v", tc.in, args, err, tc.args)
			}
		})
	}
}

func TestNearest(t *testing.T) {
	t.Parallel()
	among := []string{"help", "whoami", "status", "plan", "provision", "deploy", "teardown", "approve", "deny",
		"lock", "unlock", "runs", "run", "cancel", "checks", "check", "incidents", "incident", "ack", "resolve", "snooze", "oncall", "jobs", "digest", "audit"}
	for in, want := range map[string]string{
		"provison": "provision", "stauts": "status", "teardwn": "teardown", "aprove": "approve",
		"prov": "provision", "inc": "incident", "incidentz": "incidents", "snoze": "snooze", "unlok": "unlock", "runz": "runs", "xyzzy": "", "re": "resolve",
	} {
		if got := actions.Nearest(in, among); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse checks that no input makes the parser panic, and that what it
// accepts is well formed.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"/infra provision staging", "lock staging \"db upgrade\"", "unlock staging --force",
		"deny 4 'not now'", "runs --limit=5", "lock staging -- --x", "“quoted”", `"\"`, "/infra", "",
		"approve incident 1234", "help provision", "\x00", "--", "a\\", "'", "lock ‘x’",
		"lock staging \"db\n99 forged \x1b[2J\"", "lock staging \"a\\\x1b\"", "deny 4 'a\rb'", "“a\u0085b”", "--m=\"a\tb\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cmd, err := actions.Parse(in)
		if err != nil {
			if actions.ErrorKind(err) != actions.Invalid {
				t.Fatalf("Parse(%q): error of kind %s", in, actions.ErrorKind(err))
			}
			return
		}
		if cmd.Name == "" || !utf8.ValidString(cmd.Name) {
			t.Fatalf("Parse(%q) accepted an empty or invalid name", in)
		}
		// A command is one line of plain text, quoted or not.
		words := append([]string{cmd.Name}, cmd.Args...)
		for _, v := range cmd.Flags {
			words = append(words, v)
		}
		for _, w := range words {
			if strings.ContainsFunc(w, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }) {
				t.Fatalf("Parse(%q) kept a control character in %q", in, w)
			}
		}
		a := &actions.Action{Name: cmd.Name, Args: []actions.Arg{{Name: "id", Kind: actions.ArgID, Optional: true}, {Name: "rest", Kind: actions.ArgText, Optional: true}}}
		actions.Bind(a, cmd)
		actions.Nearest(cmd.Name, []string{"approve", "checks", "check", "deploy", "oncall"})
	})
}
