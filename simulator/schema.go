package simulator

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// schemaError is Nova's ValidationError text for a failed JSON-schema check
// on the field named last in the path.
func schemaError(field string, value any, msg string) *apiError {
	if field == "" {
		return badRequest(msg)
	}
	return badRequest(fmt.Sprintf("Invalid input for field/attribute %s. Value: %s. %s", field, pyRepr(value), msg))
}

func notOfType(field string, value any, types ...string) *apiError {
	quoted := make([]string, len(types))
	for i, t := range types {
		quoted[i] = "'" + t + "'"
	}
	return schemaError(field, value, fmt.Sprintf("%s is not of type %s", pyRepr(value), strings.Join(quoted, ", ")))
}

func notValidUnderAny(field string, value any) *apiError {
	return schemaError(field, value, pyRepr(value)+" is not valid under any of the given schemas")
}

var metadataKeyRE = regexp.MustCompile(`^[a-zA-Z0-9-_:. ]{1,255}$`)

// parseMetadata checks a metadata object as Nova's schema does: keys of
// 1 to 255 characters from a restricted set, string values of at most 255.
func parseMetadata(raw any) (map[string]string, *apiError) {
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, notOfType("metadata", raw, "object")
	}
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		if !metadataKeyRE.MatchString(k) {
			return nil, schemaError("metadata", m, fmt.Sprintf("Additional properties are not allowed ('%s' was unexpected)", k))
		}
		s, ok := m[k].(string)
		if !ok {
			return nil, notOfType(k, m[k], "string")
		}
		if len([]rune(s)) > 255 {
			return nil, schemaError(k, s, pyRepr(s)+" is too long")
		}
		out[k] = s
	}
	return out, nil
}

// nameField checks a name as Nova's "name" format does: 1 to 255 printable
// characters, not starting or ending with whitespace.
func nameField(field string, raw any) (string, *apiError) {
	s, ok := raw.(string)
	if !ok {
		return "", notOfType(field, raw, "string")
	}
	if s == "" {
		return "", schemaError(field, s, "'' is too short")
	}
	if len([]rune(s)) > 255 {
		return "", schemaError(field, s, pyRepr(s)+" is too long")
	}
	r := []rune(s)
	bad := unicode.IsSpace(r[0]) || unicode.IsSpace(r[len(r)-1])
	for _, c := range r {
		if !unicode.IsPrint(c) && !unicode.IsSpace(c) {
			bad = true
		}
	}
	if bad {
		return "", schemaError(field, s, "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")
	}
	return s, nil
}

// countField reads min_count or max_count: an integer, or a string of
// digits, of at least 1.
func countField(sd map[string]any, key string, def int) (int, *apiError) {
	raw, ok := sd[key]
	if !ok {
		return def, nil
	}
	n, aerr := schemaInteger(key, raw)
	if aerr != nil {
		return 0, aerr
	}
	if n < 1 {
		return 0, schemaError(key, raw, fmt.Sprintf("%s is less than the minimum of 1", pyRepr(raw)))
	}
	if n > 1000 {
		return 0, schemaError(key, raw, fmt.Sprintf("%s is greater than the maximum of 1000", pyRepr(raw)))
	}
	return int(n), nil
}

// schemaInteger reads a whole number given as a JSON number or as a string
// of digits, both of which Nova's request schemas accept.
func schemaInteger(field string, raw any) (int64, *apiError) {
	var n int64
	var err error
	switch x := raw.(type) {
	case json.Number:
		n, err = x.Int64()
	case string:
		n, err = strconv.ParseInt(x, 10, 32)
	default:
		return 0, notOfType(field, raw, "integer", "string")
	}
	if err != nil {
		return 0, notOfType(field, raw, "integer", "string")
	}
	return n, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pyRepr renders a decoded JSON value the way Python's repr shows it in
// Nova's validation messages.
func pyRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return "'" + strings.ReplaceAll(strings.ReplaceAll(x, `\`, `\\`), "'", `\'`) + "'"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := sortedKeys(x)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}
