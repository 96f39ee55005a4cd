package config

import _ "embed"

//go:embed demo.yaml
var demo []byte

// DemoName is how the built-in demo configuration is named in messages.
const DemoName = "demo.yaml (built in)"

// Demo returns the built-in demo configuration: the console chat, a bbolt
// file under ./data and the OpenStack simulator.
func Demo() (*Config, error) { return Parse(DemoName, demo) }
