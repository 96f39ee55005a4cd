package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Secret is a value that must not appear in the configuration file, in logs
// or in chat. The file holds a reference to it:
//
//	${env:NAME}   the environment variable NAME
//	${file:PATH}  the contents of the file PATH, trailing newline removed
//
// A literal value is refused. Formatting a Secret with %v or %s prints
// its reference, never its value.
type Secret struct {
	ref   string
	value string
}

// SecretValue returns a Secret holding v, for tests and programmatic use.
func SecretValue(v string) Secret { return Secret{ref: "(set in code)", value: v} }

// Value returns the resolved secret.
func (s Secret) Value() string { return s.value }

// IsSet reports whether the field was given.
func (s Secret) IsSet() bool { return s.ref != "" }

// String returns the reference, so that printing a Secret never leaks it.
func (s Secret) String() string {
	if s.ref == "" {
		return "(unset)"
	}
	return s.ref
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return "config.Secret(" + s.String() + ")" }

// MarshalYAML writes the reference back, never the value.
func (s Secret) MarshalYAML() (any, error) { return s.ref, nil }

// UnmarshalYAML takes a reference and resolves it.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineError(n, "a secret must be a reference such as ${env:NAME} or ${file:/path}")
	}
	v, err := ResolveSecret(n.Value)
	if err != nil {
		// The field was given, wrongly: that is the one problem to
		// report, not also "missing" later. The reference is not kept,
		// since a wrong one may be the secret itself.
		s.ref = "(invalid reference)"
		return lineError(n, "%s", err.Error())
	}
	s.ref, s.value = n.Value, v
	return nil
}

// ResolveSecret resolves a reference of the form ${env:NAME} or
// ${file:PATH}. Its errors never contain the secret.
func ResolveSecret(ref string) (string, error) {
	inner, ok := strings.CutPrefix(ref, "${")
	if ok {
		inner, ok = strings.CutSuffix(inner, "}")
	}
	if !ok {
		return "", fmt.Errorf("this field holds a secret: write a reference such as ${env:NAME} or ${file:/path}, not the value itself")
	}
	if strings.ContainsAny(inner, "{}") {
		// Not echoed: what surrounds a reference may be a secret.
		return "", fmt.Errorf("a secret field takes exactly one reference, such as ${env:NAME} or ${file:/path}, with nothing before or after it")
	}
	kind, arg, _ := strings.Cut(inner, ":")
	switch kind {
	case "env":
		if arg == "" {
			return "", fmt.Errorf("%s names no environment variable", ref)
		}
		if !envName.MatchString(arg) {
			// Not echoed: a token pasted in place of the name is no name.
			return "", fmt.Errorf("${env:…} needs an environment variable name (letters, digits and _, not starting with a digit), not what is written here (not shown, as it may be the secret itself)")
		}
		v, ok := os.LookupEnv(arg)
		if !ok || v == "" {
			return "", fmt.Errorf("%s: environment variable %s is not set", ref, arg)
		}
		return v, nil
	case "file":
		if arg == "" {
			return "", fmt.Errorf("%s names no file", ref)
		}
		b, err := os.ReadFile(expandHome(arg))
		if err != nil {
			return "", fmt.Errorf("%s: cannot read the file: %v", ref, unwrapPathError(err))
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	default:
		// Not echoed: ${TOKEN} names no source, and is the token.
		return "", fmt.Errorf("a secret reference is ${env:NAME} or ${file:/path}, and this one is neither (not shown, as it may be the secret itself)")
	}
}

// envName is what an environment variable's name may look like.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
