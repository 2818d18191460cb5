// Package commands is the write/control path: a user commands a piece of equipment bound
// to a linked device, and the provider's plugin sends it. It holds the rules (who may,
// which commands the operator approved, validation against sdk/command), the command's
// persisted lifecycle, the dispatcher that sends queued commands, and the application
// of providers' later updates.
//
// Readings are at least once and idempotent; an actuator is at most once. A command is
// persisted before any plugin is called, leased ("sending") before its one send, and a
// send whose outcome cannot be known (the plugin crashed or timed out, the host died
// mid-call) becomes "unknown" and is never resent by the host: the user sees it and
// decides. Every transition is an audit row.
package commands
