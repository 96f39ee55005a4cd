package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/actions/deploy"
)

func TestParseCommandRefusesUnprotectablePlaces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cmd string
		want      string // part of the error; "" means accepted
	}{
		{"plain", "ansible-playbook site.yml -e ref={{ .ref }}", ""},
		{"no spaces", "git checkout {{.ref}}", ""},
		{"jinja left alone", `ansible all -m debug -a "msg={{ item }}" -e ref={{ .ref }}`, ""},
		{"after a closed quote", `echo 'a' "b" {{ .ref }}`, ""},
		{"after command substitution", `cd $(dirname "$x") && git checkout {{ .ref }}`, ""},
		{"two refs", "deploy {{ .app }} {{ .ref }}", ""},
		{"inside single quotes", "echo '{{ .ref }}'", "inside single quotes"},
		{"inside double quotes", `echo "ref={{ .ref }}"`, "inside double quotes"},
		{"inside backquotes", "echo `echo {{ .ref }}`", "inside backquotes"},
		{"in a comment", "true # {{ .ref }}", "in a comment"},
		{"after a backslash", `echo \{{ .ref }}`, "after a backslash"},
		{"after a dollar", `echo ${{ .ref }}`, "right after a $"},
		{"after a here-document", "cat <<EOF\n{{ .ref }}\nEOF", "here-document"},
		{"after substitution in double quotes", `echo "$(echo ")")" {{ .ref }}`, ""},
		{"after expansion in double quotes", `echo "${x:-"}"}" {{ .ref }}`, "${ … }"},
		{"after backquotes with quotes in double quotes", "echo \"`echo \"}\"`\" {{ .ref }}", "`…` holding quotes"},
		{"after ansi-c quote", `echo $'\'' '{{ .ref }}`, "$'…'"},
		{"hash inside a word is not a comment", "echo a#b {{ .ref }}", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := deploy.ParseCommand(tc.cmd)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("accepted; want an error about %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

// nasty are values that would run a command if a shell interpreted them.
var nasty = []string{
	"v1.2",
	"'; touch PWNED; '",
	`"; touch PWNED; "`,
	"$(touch PWNED)",
	"`touch PWNED`",
	"a\ntouch PWNED",
	`\'; touch PWNED #`,
	"x' 'y",
	"$HOME ${HOME} * ? [a] ~",
	"",
	"'",
	`\`,
	"&& touch PWNED",
	"é日本\t",
}

// TestValuesReachTheCommandVerbatim runs expanded commands in the real
// shells infrabot meets on hosts: whatever a value holds, the command
// receives it as one argument, unchanged, and nothing else runs.
func TestValuesReachTheCommandVerbatim(t *testing.T) {
	t.Parallel()
	cmd, err := deploy.ParseCommand(`printf '[%s]\n' {{ .ref }} && printf '<%s>\n' x{{ .ref }}y`)
	if err != nil {
		t.Fatal(err)
	}
	for _, shell := range []string{"/bin/sh", "/bin/bash"} {
		if _, err := os.Stat(shell); err != nil {
			continue
		}
		for _, v := range nasty {
			dir := t.TempDir()
			line, err := cmd.Expand(map[string]string{"ref": v})
			if err != nil {
				t.Fatal(err)
			}
			c := exec.Command(shell, "-c", line)
			c.Dir = dir
			out, err := c.Output()
			if err != nil {
				t.Fatalf("%s: %q: %v", shell, line, err)
			}
			if want := "[" + v + "]\n<x" + v + "y>\n"; string(out) != want {
				t.Errorf("%s with %q printed %q, want %q", shell, v, out, want)
			}
			if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
				t.Errorf("%s ran a command from the value %q", shell, v)
			}
		}
	}
}

// evaluated are values that run a command where bash evaluates a word as
// an arithmetic expression or a variable name, however it is quoted: the
// subscript of a[…] is expanded, $( ) included (${IFS} survives the word
// splitting of an unquoted $( )), also after an operator; a callback
// (mapfile -C) runs a plain command; a line of its own runs where bash,
// after a syntax error, goes on at the next line.
var evaluated = []string{"a[$(touch PWNED)]", "x[`touch PWNED`]", "a[$(touch${IFS}PWNED)]", "+a[$(touch PWNED)]", "-v", "touch PWNED", "x\ntouch PWNED\n"}

// TestBashNeverEvaluatesAValue runs, in the real bash, command lines with
// a reference where bash evaluates words (arithmetic, [[ ]], subscripts,
// builtins taking names or commands): ParseCommand refuses those places
// and accepts the ones bash takes literally, and no accepted line runs a
// command from a value.
func TestBashNeverEvaluatesAValue(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Skip("no /bin/bash")
	}
	tests := []struct {
		name, cmd string
		want      string // part of the error; "" means accepted
	}{
		{"[[ -eq ]]", `[[ {{ .n }} -eq 1 ]] || echo not one`, "inside [[ … ]]"},
		{"a regex in [[ ]] is no array", `[[ web=a =~ web=(a|b) ]] && echo {{ .n }}`, ""},
		{"a regex with alternatives in [[ ]] is no array", `out=ok; if [[ $out =~ ^ok$ || $out =~ state=(up|ready) ]]; then echo {{ .n }}; fi`, ""},
		{"[[ -v ]]", `a=(1); [[ -v {{ .n }} ]]`, "inside [[ … ]]"},
		{"$(( ))", `echo $(( {{ .n }} + 1 ))`, "inside (( … )) or $(( … ))"},
		{"$(( )) in a word", `sleep x$(( {{ .n }} * 0 ))`, "inside (( … )) or $(( … ))"},
		{"$(( )) with parentheses", `echo $(( (1 + 2) * {{ .n }} ))`, "inside (( … ))"},
		{"(( ))", `(( {{ .n }} )) && echo yes`, "inside (( … ))"},
		{"for (( ))", `for (( i = {{ .n }}; i < 1; i++ )); do :; done`, "inside (( … ))"},
		{"$[ ]", `echo $[ {{ .n }} ]`, "inside $[ … ]"},
		{"${ } subscript", `a=(1 2); echo ${a[{{ .n }}]}`, "inside ${ … }"},
		{"${ } offset", `x=abc; echo ${x:{{ .n }}}`, "inside ${ … }"},
		{"${ } offset after a space", `x=abc; echo ${x: {{ .n }}}`, "inside ${ … }"},
		{"subscript assignment", `a[{{ .n }}]=1`, "array subscript"},
		{"array assignment", `a=([{{ .n }}]=1)`, "array assignment"},
		{"let", `let x={{ .n }}`, "arguments of let"},
		{"let via command", `command let x={{ .n }}`, "arguments of let"},
		{"let via builtin", `builtin let {{ .n }}`, "arguments of let"},
		{"let of a substitution", `let x=$(printf %s {{ .n }})`, "arguments of let"},
		{"declare -i", `declare -i x={{ .n }}`, "arguments of declare"},
		{"declare -n", `declare -n r={{ .n }}; echo $r`, "arguments of declare"},
		{"typeset -i", `typeset -i x={{ .n }}`, "arguments of typeset"},
		{"local -i", `f() { local -i x={{ .n }}; }; f`, "arguments of local"},
		{"local in a function", `function f { local -i x={{ .n }}; }; f`, "arguments of local"},
		{"eval", `eval echo {{ .n }}`, "arguments of eval"},
		{"trap", `trap {{ .n }} EXIT`, "arguments of trap"},
		{"read", `read {{ .n }} <<< 1`, "arguments of read"},
		{"unset", `a=(1); unset {{ .n }}`, "arguments of unset"},
		{"let after a redirection", `let x=1 2>&1 {{ .n }}`, "arguments of let"},
		{"let after &>", `let x=1 &>/dev/null {{ .n }}`, "arguments of let"},
		{"test -v", `a=(1); test -v {{ .n }}`, "test's -v"},
		{"[ -v ]", `a=(1); [ -v {{ .n }} ]`, "test's -v"},
		{"[ ] after a reference, which may be -v", `a=(1); [ {{ .op }} {{ .n }} ]`, "test's -v"},
		{"printf -v", `printf -v {{ .n }} %s 1`, "printf -v"},
		{"case pattern then let", `case x in x) let {{ .n }};; esac`, "arguments of let"},
		{"case in a substitution then let", `echo $(case x in (y) :;; x) let {{ .n }};; esac)`, "arguments of let"},
		{"read after a process substitution", `read x < <(echo 1) {{ .n }}`, "arguments of read"},
		{"case in a substitution then eval", `echo $(case x in y|x) :;& *) eval {{ .n }};; esac)`, "arguments of eval"},
		{"wait -p", `sleep 0 & wait -n -p {{ .n }}`, "arguments of wait"},
		{"mapfile -C", `printf 'a\n' > f; mapfile -t -C {{ .n }} -c 1 arr < f`, "arguments of mapfile"},
		{"readarray -C", `readarray -C {{ .n }} -c 1 arr < <(echo a)`, "arguments of readarray"},
		{"readonly -a array assignment", `readonly -a x=([{{ .n }}]=1)`, "array assignment"},
		{"export -a array assignment", `export -a x=([{{ .n }}]=1)`, "array assignment"},
		{"$(( )) in double quotes", `echo "$(( {{ .n }} + 1 ))"`, "inside (( … ))"},
		{"let of a substitution in double quotes", `let x="$(printf %s {{ .n }})"`, "arguments of let"},
		{"in double quotes in a substitution in double quotes", `echo "$(echo "{{ .n }}")"`, "inside double quotes"},
		{"in backquotes in double quotes", "echo \"`echo {{ .n }}`\"", "inside backquotes"},
		{"after an array assignment holding ;;", `a=(];; esac) {{ .n }}`, "after an array assignment"},
		{"after an array assignment holding ;", "a=(x ;)\necho {{ .n }}", "after an array assignment"},
		{"after an array assignment holding &", `a=(x &) {{ .n }}`, "after an array assignment"},
		{"after an array assignment holding |", `a=(x | y) {{ .n }}`, "after an array assignment"},
		{"after an array assignment holding >", `a=(x >f) {{ .n }}`, "after an array assignment"},
		{"after an array assignment holding (", `a=((x)) {{ .n }}`, "after an array assignment"},
		{"after an array assignment holding another", `a=(b=(c)) {{ .n }}`, "after an array assignment"},
		{"after a local array assignment in a substitution", `echo $(local a=(;)) {{ .n }}`, "after an array assignment"},
		{"after a newline in a broken array assignment", "a=(x\n;)\necho {{ .n }}", "after an array assignment"},
		{"after a ) in an array assignment's subscript", `a=([x)] [{{ .n }}]=1)`, "array assignment"},
		{"in a subscript after a nested one", `a[x[1]{{ .n }}]=1`, "array subscript"},

		// What bash takes literally stays allowed.
		{"[ -eq ]", `[ {{ .n }} -eq 1 ] || echo not one`, ""},
		{"test -eq", `test {{ .n }} -lt 1 || echo not less`, ""},
		{"[ = ]", `a=(1); [ {{ .n }} = {{ .n }} ]`, ""},
		{"printf %d", `printf '%d %s\n' {{ .n }} {{ .n }} || true`, ""},
		{"printf -v a name, then a value", `printf -v x %s {{ .n }}; echo "$x"`, ""},
		{"after $(( ))", `echo $(( 1 + 2 )) {{ .n }}`, ""},
		{"after (( ))", `(( 1 )) && echo {{ .n }}`, ""},
		{"after [[ ]]", `[[ -n x ]] && echo {{ .n }}`, ""},
		{"after ${ }", `echo ${HOME:-x} {{ .n }}`, ""},
		{"after let", `let x=1; echo {{ .n }}`, ""},
		{"after an array assignment", `a=(1 2); echo {{ .n }} ${a[1]}`, ""},
		{"after for (( ))", `for (( i = 0; i < 2; i++ )); do echo {{ .n }}; done`, ""},
		{"let as an argument", `echo let {{ .n }}`, ""},
		{"in a case body", `case x in x) echo {{ .n }};; esac`, ""},
		{"after a case in a substitution", `echo $(case x in (x) echo 1;; esac) {{ .n }}`, ""},
		{"after a case", `case x in x) let y=1;; esac; echo {{ .n }}`, ""},
		{"in a function", `f() { echo "$1"; }; f {{ .n }}`, ""},
		{"in a command substitution", `echo $(printf %s {{ .n }})`, ""},
		{"an environment variable", `REF={{ .n }} printenv REF`, ""},
		{"shift", `set -- 1 2; shift {{ .n }} || true`, ""},
		{"exit", `(exit {{ .n }}) || true`, ""},
		{"after a substitution in double quotes", `if [ "$(hostname)" = web ]; then echo restart {{ .n }}; fi`, ""},
		{"after a substitution in double quotes, next command", `echo "$(date)"; echo {{ .n }}`, ""},
		{"after a substitution in double quotes in [ ]", `[ "$(id -u)" -eq 0 ] || echo {{ .n }}`, ""},
		{"after quotes in a substitution in double quotes", `echo "$(echo ")")" {{ .n }}`, ""},
		{"after a case in a substitution in double quotes", `echo "$(case x in x) echo "c)";; esac)" {{ .n }}`, ""},
		{"after $(( )) in double quotes", `echo "$(( 1 + 2 ))" {{ .n }}`, ""},
		{"after backquotes in double quotes", "echo \"a`echo b`c\" {{ .n }}", ""},
		{"in a substitution in double quotes", `echo "$(printf %s {{ .n }})"`, ""},
		{"after an escaped $ in double quotes", `echo "\$(" {{ .n }} ")"`, ""},
		{"after $$ in double quotes", `echo "$$(echo)" {{ .n }}`, ""},
		{"on a line of its own", "echo start\necho {{ .n }}\necho end", ""},
		{"after a multi-line array assignment", "a=(\n  web1 # the first; the second:\n  web2\n)\necho {{ .n }} \"${a[@]}\"", ""},
		{"after an array assignment holding quoted operators", `a=("a;b" \| '(' <(echo x) [1]=$(echo "c)")); echo {{ .n }} "${a[@]}"`, ""},
		{"after a subscript with a nested one", `b=(0 1); a[b[1]]=1; echo {{ .n }}`, ""},
		{"after a ) in an array assignment's subscript", `a=([x)]=1); echo {{ .n }}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd, err := deploy.ParseCommand(tc.cmd)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("accepted; want an error about %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if err != nil {
				return
			}
			for _, v := range evaluated {
				line, err := cmd.Expand(map[string]string{"n": v, "op": "-v"})
				if err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				c := exec.Command("/bin/bash", "-c", line)
				c.Dir = dir
				out, _ := c.CombinedOutput()
				if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
					t.Errorf("bash ran a command from the value %q: %s\n%s", v, line, out)
				}
			}
		})
	}
}

func TestExpandNeedsEveryValue(t *testing.T) {
	t.Parallel()
	cmd, err := deploy.ParseCommand("deploy {{ .app }} {{ .ref }} {{ .app }}")
	if err != nil {
		t.Fatal(err)
	}
	if got := cmd.Params(); strings.Join(got, ",") != "app,ref" {
		t.Errorf("params = %q", got)
	}
	if _, err := cmd.Expand(map[string]string{"app": "web"}); err == nil || !strings.Contains(err.Error(), "ref") {
		t.Errorf("expand without ref: %v", err)
	}
	got, err := cmd.Expand(map[string]string{"app": "web", "ref": "v1"})
	if err != nil || got != "deploy 'web' 'v1' 'web'" {
		t.Errorf("expand = %q, %v", got, err)
	}
	if _, err := cmd.Expand(map[string]string{"app": "a\x00b", "ref": "v"}); err == nil {
		t.Error("a NUL byte in a value was accepted")
	}
}

// FuzzQuote checks Quote against the real /bin/sh: any value (without a
// NUL byte, which no argument can hold) comes out of the shell unchanged.
func FuzzQuote(f *testing.F) {
	for _, v := range nasty {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsRune(v, 0) {
			return
		}
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+deploy.Quote(v)).Output()
		if err != nil {
			t.Fatalf("sh failed on %q: %v", v, err)
		}
		if string(out) != v {
			t.Fatalf("sh gave %q for %q", out, v)
		}
	})
}

// FuzzParseCommand checks that no command line makes parsing or expanding
// panic, and that an accepted command expands to its text with every
// reference replaced by the quoted value.
func FuzzParseCommand(f *testing.F) {
	f.Add("ansible-playbook -i inventory/staging site.yml -e ref={{ .ref }}", "v1.2")
	f.Add("echo '{{ .ref }}'", "x")
	f.Add(`echo "$(echo ")")" {{ .ref }}`, "x")
	f.Add("cat <<EOF\n{{ .ref }}\nEOF", "'; rm -rf / #")
	f.Add("true # {{.ref}}\n{{ .ref }}", "a\nb")
	f.Add("{{ .a }}{{ .b }}{{ .a", "$(x)")
	f.Add("echo $(( {{ .n }} + 1 )) {{ .n }}", "a[$(touch PWNED)]")
	f.Add("[[ {{ .n }} -eq 1 ]]", "1")
	f.Add("x=abc; echo ${x:{{ .n }}}", "1")
	f.Add("a=([{{ .n }}]=1) b[{{ .n }}]=2", "1")
	f.Add("command let x={{ .n }}; [ -v {{ .n }} ]", "1")
	f.Add("f() { local -i x=$(echo {{ .n }}); }; echo $[ {{ .n }} ]", "1")
	f.Add("sleep 0 & wait -n -p {{ .n }}; readonly -a x=([{{ .n }}]=1) y={{ .n }}", "1")
	f.Add(`if [ "$(hostname)" = "$(echo ")")" ]; then echo "a`+"`b`"+`$$(" {{ .n }}; fi`, "1")
	f.Add(`echo "$(( 1 ))" "$(case x in x) echo "c)";; esac)" "\$(" {{ .n }} "${x}"`, "1")
	f.Add("a=(];; esac) {{ .n }}", "a\ntouch PWNED\n")
	f.Add("a=(\n web1 # c;d\n [1]=$(echo \"c)\") <(echo) \\;\n) b=(x |) c=((y)) {{ .n }}", "1")
	f.Add("a=([x)] [{{ .n }}]=1); a[x[1]{{ .n }}]=1", "+a[$(touch PWNED)]")
	f.Fuzz(func(t *testing.T, text, v string) {
		cmd, err := deploy.ParseCommand(text)
		if err != nil {
			return
		}
		values := map[string]string{}
		for _, p := range cmd.Params() {
			values[p] = v
		}
		got, err := cmd.Expand(values)
		if strings.ContainsRune(v, 0) && len(values) > 0 {
			if err == nil {
				t.Fatal("a NUL byte was expanded")
			}
			return
		}
		if err != nil {
			t.Fatalf("expand: %v", err)
		}
		want := text
		for _, p := range cmd.Params() {
			want = replaceRefs(want, p, deploy.Quote(v))
		}
		if got != want {
			t.Fatalf("expanded %q to %q, want %q", text, got, want)
		}
	})
}

// replaceRefs is an independent substitution: a reference is {{, spaces,
// a dot, the name, spaces, }}.
func replaceRefs(s, name, with string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			return b.String() + s
		}
		j := i + 2
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		k := j + 1 + len(name)
		if j < len(s) && s[j] == '.' && k <= len(s) && s[j+1:k] == name && (k == len(s) || !isIdent(s[k])) {
			m := k
			for m < len(s) && isSpace(s[m]) {
				m++
			}
			if strings.HasPrefix(s[m:], "}}") {
				b.WriteString(s[:i] + with)
				s = s[m+2:]
				continue
			}
		}
		b.WriteString(s[:i+1])
		s = s[i+1:]
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
