// Package actions is infrabot's domain: what people may ask for and what
// becomes of it. It owns the command grammar (Parse), the catalogue of
// actions (Catalog, Action) with their arguments and the permissions they
// need, the policy (Policy: people, roles, approval rules; deny by
// default), and the engine (Engine) that turns a chat line into a reply or
// a recorded Run: authorise, ask a second person where the two-person rule
// says so, take the environment's lock, carry out the run in the
// background, and write every step to the audit chain.
//
// The package imports only the standard library. What it needs from the
// outside world it names as small interfaces implemented elsewhere: Chat
// (bot/console, bot/slack), Cloud (actions/openstack), RunStore,
// LockStore and AuditLog (storage). Messages are platform-neutral
// (Message); each chat adapter renders them its own way.
//
// Errors meant for a person carry a Kind and a Message (Errorf); anything
// else is logged and shown in chat only as "internal error".
package actions
