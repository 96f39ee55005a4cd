package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/infrabot/infrabot/actions"
)

// checkShape walks the YAML tree against the Config type before it is
// decoded, so that an unknown key or a value of the wrong kind is reported
// in the file's own words (the key's path and what was expected) rather
// than in Go's ("field pathh not found in Storage", "cannot unmarshal
// !!str into int").
func (v *validator) checkShape(n *yaml.Node) {
	if n == nil || len(n.Content) == 0 {
		return
	}
	v.shape(nil, n.Content[0], reflect.TypeFor[Config]())
}

var (
	typeDuration    = reflect.TypeFor[Duration]()
	typeSecret      = reflect.TypeFor[Secret]()
	typeNode        = reflect.TypeFor[yaml.Node]()
	typeUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
)

// shape checks node n, found at path, against type t.
func (v *validator) shape(path []string, n *yaml.Node, t reflect.Type) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the default
	}
	switch {
	case t == typeDuration:
		v.wantScalar(path, n, t, "a duration such as 90s, 15m or 2h")
		return
	case t == typeSecret:
		v.wantScalar(path, n, t, "a secret reference such as ${env:NAME} or ${file:/path}")
		return
	case t == typeNode || reflect.PointerTo(t).Implements(typeUnmarshaler):
		return // read as it comes (a key that moved), or by the type itself
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			v.mismatch(path, n, t, "a section of keys ("+listKeys(t)+")")
			return
		}
		keys := yamlKeys(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue // a merge key; its values are checked where they are defined
			}
			f, ok := keys[k.Value]
			if !ok {
				v.unknownKey(path, k, t)
				continue
			}
			v.shape(append(slices.Clone(path), k.Value), val, f)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			v.mismatch(path, n, t, "a mapping of names to "+describe(t.Elem()))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				v.problemAt(k.Line, "%s: a name here must be plain text", dotted(path))
				continue
			}
			v.shape(append(slices.Clone(path), k.Value), val, t.Elem())
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			hint := ""
			if n.Kind == yaml.ScalarNode && !holdsSecret(t) {
				hint = fmt.Sprintf(" (for a list of one, write [%s])", n.Value)
			}
			v.mismatch(path, n, t, "a list of "+describe(t.Elem())+hint)
			return
		}
		for i, item := range n.Content {
			v.shape(append(slices.Clone(path), strconv.Itoa(i)), item, t.Elem())
		}
	case reflect.String:
		v.wantScalar(path, n, t, "text")
	case reflect.Int, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			v.mismatch(path, n, t, "a whole number")
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			v.mismatch(path, n, t, "true or false")
		}
	}
}

func (v *validator) wantScalar(path []string, n *yaml.Node, t reflect.Type, want string) {
	if n.Kind != yaml.ScalarNode {
		v.mismatch(path, n, t, want)
	}
}

// mismatch reports a value of the wrong kind for type t, quoting what was
// written, unless t holds a secret: a value written where one belongs may
// be the secret itself, so then only its kind is said.
func (v *validator) mismatch(path []string, n *yaml.Node, t reflect.Type, want string) {
	got := "a section of keys"
	switch {
	case n.Kind == yaml.ScalarNode && holdsSecret(t):
		got = scalarKind(n) + " (not shown, as it may be a secret)"
	case n.Kind == yaml.ScalarNode:
		got = strconv.Quote(n.Value)
	case n.Kind == yaml.SequenceNode:
		got = "a list"
	}
	v.problemAt(n.Line, "%s: expected %s, not %s", dotted(path), want, got)
}

// scalarKind says what kind of value scalar n is, without the value.
func scalarKind(n *yaml.Node) string {
	switch n.Tag {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	}
	return "a string"
}

// holdsSecret reports whether a value of type t is a Secret or holds one:
// in a field, an element, a map's key or value, behind a pointer.
func holdsSecret(t reflect.Type) bool {
	return holdsSecretSeen(t, map[reflect.Type]bool{})
}

func holdsSecretSeen(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == typeSecret {
		return true
	}
	if seen[t] {
		return false // a type that holds itself: answered where it was first met
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsSecretSeen(t.Elem(), seen)
	case reflect.Map:
		return holdsSecretSeen(t.Key(), seen) || holdsSecretSeen(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsSecretSeen(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

func (v *validator) unknownKey(path []string, k *yaml.Node, t reflect.Type) {
	where := "at the top level"
	if len(path) > 0 {
		where = "in " + dotted(path)
	}
	names := slices.Sorted(maps.Keys(yamlKeys(t)))
	msg := fmt.Sprintf("unknown key %q %s", k.Value, where)
	if near := actions.Nearest(k.Value, names); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	} else {
		msg += "; the keys here are " + strings.Join(names, ", ")
	}
	v.problemAt(k.Line, "%s", msg)
}

func (v *validator) problemAt(line int, format string, args ...any) {
	v.problems = append(v.problems, Problem{File: v.file, Line: line, Message: fmt.Sprintf(format, args...)})
}

// dotted writes a key path as people read it: environments.staging.servers[0].count.
func dotted(path []string) string {
	var b strings.Builder
	for _, p := range path {
		if _, err := strconv.Atoi(p); err == nil {
			fmt.Fprintf(&b, "[%s]", p)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// yamlKeys maps the YAML keys of struct type t to their field types.
func yamlKeys(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func listKeys(t reflect.Type) string {
	return strings.Join(slices.Sorted(maps.Keys(yamlKeys(t))), ", ")
}

// describe says in words what a value of type t looks like.
func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == typeDuration:
		return "durations"
	case t == typeSecret:
		return "secret references"
	}
	switch t.Kind() {
	case reflect.String:
		return "names"
	case reflect.Int, reflect.Int64:
		return "whole numbers"
	case reflect.Struct, reflect.Map:
		return "sections"
	}
	return "values"
}
