package cijobs

// Glob reports whether name matches pattern, where * matches any run of
// characters (slashes included: Jenkins folders are part of a job's
// name) and ? matches one character. Everything else matches itself.
func Glob(pattern, name string) bool {
	p, n := []rune(pattern), []rune(name)
	// The classic linear-time wildcard match: remember the last star and
	// where in name it started matching, and backtrack only there.
	pi, ni := 0, 0
	star, mark := -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
