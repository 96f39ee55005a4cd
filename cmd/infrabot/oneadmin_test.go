package main

import "fmt"

// oneAdminConfig is the YAML of a config whose store is in dir and whose
// one person, alice, is an admin of everything, followed by extra: the
// sections the test is about (clouds, environments, checks…).
func oneAdminConfig(dir, extra string) string {
	return fmt.Sprintf(`storage: {path: %q}
people:
  alice: {roles: [admin]}
roles:
  admin: {allow: ["*"], environments: ["*"]}
`, dir+"/infrabot.db") + extra
}
