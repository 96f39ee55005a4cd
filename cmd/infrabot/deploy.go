package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/deploy"
	"github.com/infrabot/infrabot/actions/environments"
	"github.com/infrabot/infrabot/actions/ssh"
	"github.com/infrabot/infrabot/config"
)

// deployModule makes the deploy module: one SSH executor per environment
// with ssh settings, made now so that a bad key or pinned line stops the
// start rather than the first deploy; keys trusted on first use are
// audited; provision hands the servers it creates to its bootstrap.
func (a *App) deployModule(envs *environments.Module) error {
	h, err := a.Engine.Module(deploy.Name)
	if err != nil {
		return err
	}
	remotes := map[string]deploy.Remote{}
	var denvs []deploy.Environment
	for _, name := range slices.Sorted(maps.Keys(a.Config.Environments)) {
		e := a.Config.Environments[name]
		if e.SSH == nil {
			continue
		}
		r, err := ssh.New(sshConfig(e.SSH, func(k ssh.TrustedKey) {
			deploy.AuditTrust(context.Background(), h, name, deploy.TrustedKey{Host: k.Host, Type: k.Type, Fingerprint: k.Fingerprint, File: k.File})
		}, a))
		if err != nil {
			return fmt.Errorf("environment %s: %w", name, err)
		}
		a.remotes = append(a.remotes, r)
		remotes[name] = r
		denv, err := deployEnvironment(name, e)
		if err != nil {
			return fmt.Errorf("environment %s: %w", name, err)
		}
		denvs = append(denvs, denv)
	}
	m := deploy.New(h, denvs, deploy.Options{
		Remotes: remotes,
		Inventory: func(ctx context.Context, env string) ([]actions.Server, error) {
			_, servers, err := envs.Servers(ctx, env)
			return servers, err
		},
	})
	envs.BootstrapWith(m)
	a.deploy, a.shells = m, remotes
	return nil
}

func sshConfig(c *config.SSH, onTrust func(ssh.TrustedKey), a *App) ssh.Config {
	cfg := ssh.Config{
		User: c.User, Port: c.Port,
		PrivateKey: []byte(c.PrivateKey.Value()), Passphrase: []byte(c.Passphrase.Value()),
		Agent:    c.Agent,
		HostKeys: c.HostKeys, TrustOnFirstUse: c.TrustOnFirstUse, OnTrust: onTrust,
		ConnectTimeout: time.Duration(c.ConnectTimeout),
		Log:            a.Log.With("component", "ssh"),
	}
	if c.KnownHosts != "" {
		cfg.KnownHosts = []string{c.KnownHosts}
	}
	if c.Bastion != nil {
		cfg.Bastion = &ssh.Hop{Addr: c.Bastion.Host, User: c.Bastion.User}
	}
	return cfg
}

func deployEnvironment(name string, e config.Environment) (deploy.Environment, error) {
	out := deploy.Environment{Name: name, Parallel: e.SSH.Parallel, ReadyTimeout: time.Duration(e.SSH.ReadyTimeout), Targets: map[string][]deploy.Step{}}
	for _, s := range e.Servers {
		out.Servers = append(out.Servers, s.Name)
	}
	if e.SSH.Bastion != nil {
		out.Bastion = e.SSH.Bastion.Host
	}
	steps := func(in []config.Step) ([]deploy.Step, error) {
		var st []deploy.Step
		for i, s := range in {
			cmd, err := deploy.ParseCommand(s.Run)
			if err != nil {
				return nil, fmt.Errorf("step %d: %w", i+1, err)
			}
			st = append(st, deploy.Step{Command: cmd, On: s.On, Timeout: time.Duration(s.Timeout), KeepGoing: s.KeepGoing})
		}
		return st, nil
	}
	var err error
	if out.Bootstrap, err = steps(e.Bootstrap); err != nil {
		return out, fmt.Errorf("bootstrap: %w", err)
	}
	for target, ss := range e.Deploy {
		if out.Targets[target], err = steps(ss); err != nil {
			return out, fmt.Errorf("deploy %s: %w", target, err)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(e.Params)) {
		cp := e.Params[p]
		re, err := deploy.CompilePattern(cp.Pattern)
		if err != nil {
			return out, fmt.Errorf("params %s: %w", p, err)
		}
		param := deploy.Param{Name: p, Pattern: re}
		if cp.Default != nil {
			param.Default, param.HasDefault = *cp.Default, true
		}
		out.Params = append(out.Params, param)
	}
	return out, nil
}
