package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/infrabot/infrabot/actions"
)

// Param is a value a person may give a deploy (--ref=v1.2), checked
// against its pattern before it reaches any command.
type Param struct {
	Name string
	// Pattern must match the whole value; it is anchored whether or not
	// it is written with ^ and $.
	Pattern *regexp.Regexp
	// Default is used when the person gives none; without one the
	// parameter must be given.
	Default    string
	HasDefault bool
}

// CompilePattern compiles a parameter's pattern so that it matches whole
// values only.
func CompilePattern(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, fmt.Errorf("a parameter needs a pattern its values must match")
	}
	if _, err := regexp.Compile(p); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + p + `)$`)
}

// MaxParamLength bounds every parameter value, whatever its pattern says.
const MaxParamLength = 1000

// Resolve checks the values given against params and fills in defaults.
// An unknown name, a value that does not match its pattern and a missing
// value are refused with a message for the person in chat, which never
// repeats the refused value (it may hold anything).
func Resolve(params []Param, given map[string]string) (map[string]string, error) {
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = p.Name
	}
	for name := range given {
		if !slices.Contains(names, name) {
			if len(names) == 0 {
				return nil, actions.Errorf(actions.Invalid, "this deploy takes no parameters, but --%s was given", name)
			}
			return nil, actions.Errorf(actions.Invalid, "unknown parameter --%s (this deploy takes %s)", name, flagList(names))
		}
	}
	values := map[string]string{}
	for _, p := range params {
		v, ok := given[p.Name]
		switch {
		case !ok && p.HasDefault:
			v = p.Default
		case !ok:
			return nil, actions.Errorf(actions.Invalid, "--%s is required: give it as --%s=VALUE", p.Name, p.Name)
		}
		if len(v) > MaxParamLength || !p.Pattern.MatchString(v) {
			return nil, actions.Errorf(actions.Invalid, "the value of --%s does not match its pattern %s", p.Name, strings.TrimSuffix(strings.TrimPrefix(p.Pattern.String(), "^(?:"), ")$"))
		}
		values[p.Name] = v
	}
	return values, nil
}

func flagList(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "--" + n
	}
	return strings.Join(out, ", ")
}
