package actions

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Nearest returns the name in among that name most likely means: the only
// one that starts with name (or the one every such name extends, as
// checks extends check), or else the nearest one at most two edits away.
// It returns "" when none fits.
func Nearest(name string, among []string) string {
	var prefixed []string
	best, bestDist := "", 3
	for _, c := range among {
		if len(name) >= 2 && strings.HasPrefix(c, name) {
			prefixed = append(prefixed, c)
		}
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if len(prefixed) > 0 {
		// One command that starts with name, or one that all the others
		// extend (check, checks): that one.
		shortest := slices.MinFunc(prefixed, func(a, b string) int { return len(a) - len(b) })
		if !slices.ContainsFunc(prefixed, func(c string) bool { return !strings.HasPrefix(c, shortest) }) {
			best = shortest
		}
	}
	return best
}

// didYouMean returns " (did you mean `x`?)" for the nearest of among, or "".
func didYouMean(name string, among []string) string {
	if n := Nearest(name, among); n != "" {
		return fmt.Sprintf(" (did you mean `%s`?)", n)
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 64
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// ArgKind says what a positional argument holds.
type ArgKind int

// Argument kinds.
const (
	ArgWord  ArgKind = iota // one word
	ArgEnv                  // an environment name
	ArgID                   // a positive whole number (a run or request id)
	ArgText                 // the rest of the line, as free text
	ArgCount                // a small positive whole number
)

// Arg is one positional argument of an action.
type Arg struct {
	Name     string
	Kind     ArgKind
	Optional bool
}

// Flag is a --flag an action accepts.
type Flag struct {
	Name string
	Help string
	// Permission, when set, is what a role must allow, besides the
	// action, to use the flag (unlock's --force needs "unlock-force").
	// Roles grant it by this name.
	Permission string
}

// Action is one command in the catalogue. An action is either a query,
// answered at once (Query), or a run (Plan and Execute), which is recorded,
// may need approval, holds its environment's lock and reports progress.
type Action struct {
	Name    string
	Summary string // one line for help
	Help    string // more, for help <command>
	Args    []Arg
	Flags   []Flag
	// Permissions are further names a role must allow for parts of the
	// action that check them themselves (Handle.Allowed): `oncall
	// override` needs oncall-override besides oncall. Roles grant them
	// by name, as they grant actions.
	Permissions []string

	// Module is the module that registered the action; "" for the
	// kernel's own.
	Module string

	// Mutates marks actions that change an environment or infrabot's
	// state; they echo how they were understood.
	Mutates bool
	// Destructive actions always need a second person's approval.
	Destructive bool

	// Query answers the request at once.
	Query func(ctx context.Context, req *Request) (Message, error)

	// Plan says what a run would do, changing nothing. The plan shown
	// to an approver is bound, by its hash, to the approval.
	Plan func(ctx context.Context, req *Request) (Plan, error)
	// Execute carries out plan, reporting through p. It must stop
	// promptly when ctx ends.
	Execute func(ctx context.Context, req *Request, plan Plan, p *Progress) error
}

// IsRun reports whether the action is carried out as a recorded run.
func (a *Action) IsRun() bool { return a.Execute != nil }

// Usage returns how the action is typed, e.g. "lock <env> [reason]".
func (a *Action) Usage() string {
	var b strings.Builder
	b.WriteString(a.Name)
	for _, arg := range a.Args {
		name := arg.Name
		if arg.Kind == ArgText {
			name += "…"
		}
		if arg.Optional {
			fmt.Fprintf(&b, " [%s]", name)
		} else {
			fmt.Fprintf(&b, " <%s>", name)
		}
	}
	for _, f := range a.Flags {
		fmt.Fprintf(&b, " [--%s]", f.Name)
	}
	return b.String()
}

// envArg returns the name of the action's environment argument, if any.
func (a *Action) envArg() (string, bool) {
	for _, arg := range a.Args {
		if arg.Kind == ArgEnv {
			return arg.Name, true
		}
	}
	return "", false
}

// Request is a command bound to its action and the person asking.
type Request struct {
	Person *Person
	Action *Action
	Args   map[string]string
	Flags  map[string]string
	// Env is the environment the request is about, "" for none.
	Env    string
	Origin Origin

	// settings are those in force when the command started; nil for a
	// request rebuilt from a stored run (an approval), which uses the
	// settings in force then.
	settings *Settings
}

// Arg returns the named argument, "" when not given.
func (r *Request) Arg(name string) string { return r.Args[name] }

// ID returns the named argument as a number; Bind has checked it.
func (r *Request) ID(name string) int64 {
	n, _ := strconv.ParseInt(r.Args[name], 10, 64)
	return n
}

// Flag reports whether the boolean flag name was given.
func (r *Request) Flag(name string) bool { return r.Flags[name] == "true" }

// Text returns the request as it was understood, in canonical form.
func (r *Request) Text() string {
	parts := []string{r.Action.Name}
	for _, arg := range r.Action.Args {
		v, ok := r.Args[arg.Name]
		if !ok {
			continue
		}
		if arg.Kind == ArgText || strings.ContainsAny(v, " \t\"'") {
			v = strconv.Quote(v)
		}
		parts = append(parts, v)
	}
	for _, f := range r.Action.Flags {
		if v, ok := r.Flags[f.Name]; ok {
			if v == "true" {
				parts = append(parts, "--"+f.Name)
			} else {
				parts = append(parts, "--"+f.Name+"="+strconv.Quote(v))
			}
		}
	}
	return strings.Join(parts, " ")
}

// Bind checks cmd against what a accepts and returns the arguments by
// name. A command that does not fit is refused with the usage, never
// guessed at.
func Bind(a *Action, cmd Command) (args, flags map[string]string, err error) {
	usage := func(format string, v ...any) error {
		return Errorf(Invalid, "%s. Usage: `%s`", fmt.Sprintf(format, v...), a.Usage())
	}
	args = map[string]string{}
	i := 0
	for _, arg := range a.Args {
		if arg.Kind == ArgText {
			if i < len(cmd.Args) {
				args[arg.Name] = strings.Join(cmd.Args[i:], " ")
				i = len(cmd.Args)
			} else if !arg.Optional {
				return nil, nil, usage("%s needs %s", a.Name, arg.Name)
			}
			continue
		}
		if i >= len(cmd.Args) {
			if arg.Optional {
				continue
			}
			return nil, nil, usage("%s needs %s", a.Name, article(arg))
		}
		v := cmd.Args[i]
		i++
		switch arg.Kind {
		case ArgID:
			n, err := strconv.ParseInt(strings.TrimPrefix(v, "#"), 10, 64)
			if err != nil || n <= 0 {
				return nil, nil, usage("%q is not %s (a whole number like 42)", v, withArticle(arg.Name))
			}
			v = strconv.FormatInt(n, 10)
		case ArgCount:
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > 1000 {
				return nil, nil, usage("%q is not a count from 1 to 1000", v)
			}
		case ArgEnv:
			v = strings.ToLower(v)
		}
		args[arg.Name] = v
	}
	if i < len(cmd.Args) {
		return nil, nil, usage("%s takes %s, but %q is left over", a.Name, argSummary(a), strings.Join(cmd.Args[i:], " "))
	}
	flags = map[string]string{}
	for name, v := range cmd.Flags {
		known := slices.ContainsFunc(a.Flags, func(f Flag) bool { return f.Name == name })
		if !known {
			return nil, nil, usage("%s has no flag --%s", a.Name, name)
		}
		flags[name] = v
	}
	return args, flags, nil
}

func article(arg Arg) string {
	switch arg.Kind {
	case ArgEnv:
		return "an environment"
	case ArgID:
		return withArticle(arg.Name)
	}
	return arg.Name
}

// withArticle puts "a" or "an" before a noun: "an id", "a count".
func withArticle(noun string) string {
	if noun != "" && strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

// Plural says "1 server", "3 servers".
func Plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func argSummary(a *Action) string {
	n := 0
	for _, arg := range a.Args {
		if !arg.Optional {
			n++
		}
	}
	words := []string{"no arguments", "one argument", "two arguments", "three arguments"}
	count := func(n int) string {
		if n < len(words) {
			return words[n]
		}
		return fmt.Sprintf("%d arguments", n)
	}
	if n == len(a.Args) {
		return count(n)
	}
	return "at most " + count(len(a.Args))
}

// Catalog is the set of actions this infrabot offers. Adding an action is
// adding one entry.
type Catalog struct {
	actions map[string]*Action
	order   []string
}

// NewCatalog returns an empty catalogue.
func NewCatalog() *Catalog { return &Catalog{actions: map[string]*Action{}} }

// Add registers a. Names must be unique; a clash is a programming error.
func (c *Catalog) Add(a *Action) {
	if _, dup := c.actions[a.Name]; dup {
		panic("actions: " + a.Name + " registered twice")
	}
	if (a.Query == nil) == (a.Execute == nil) || (a.Execute != nil && a.Plan == nil) {
		panic("actions: " + a.Name + " needs either Query, or Plan and Execute")
	}
	c.actions[a.Name] = a
	c.order = append(c.order, a.Name)
}

// Lookup returns the action called name.
func (c *Catalog) Lookup(name string) (*Action, bool) {
	a, ok := c.actions[name]
	return a, ok
}

// Names returns the names of the actions, in the order they were added.
func (c *Catalog) Names() []string { return slices.Clone(c.order) }

// Permissions returns every name a role may allow: each action, and each
// permission a flag asks for, sorted.
func (c *Catalog) Permissions() []string {
	var out []string
	for _, a := range c.All() {
		out = append(out, a.Name)
		out = append(out, a.Permissions...)
		for _, f := range a.Flags {
			if f.Permission != "" {
				out = append(out, f.Permission)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// All returns the actions in the order they were added.
func (c *Catalog) All() []*Action {
	out := make([]*Action, len(c.order))
	for i, n := range c.order {
		out[i] = c.actions[n]
	}
	return out
}
