package worker

import (
	"errors"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/outage"
	"github.com/poolhost/poolhost/host/store"
)

// TickLog logs the ticks of a worker that fail. A tick that fails because the database
// cannot be reached goes into one outage (host/outage: a start line with the error, a
// count per interval, an end line): each worker ticks every interval whatever happens,
// and with PostgreSQL down the command dispatcher alone wrote an ERROR a second, the
// retry and poll workers one per tick each. Any other failure is logged whole.
type TickLog struct {
	log  hclog.Logger
	msg  string
	down *outage.Log
}

// NewTickLog returns a TickLog writing msg ("command tick failed") to log.
func NewTickLog(log hclog.Logger, msg string) *TickLog {
	return &TickLog{log: log, msg: msg, down: outage.New(log, msg+", the database unreachable")}
}

// Fail logs one failed tick.
func (t *TickLog) Fail(err error) {
	if errors.Is(store.Unavailable(err), store.ErrUnavailable) {
		t.down.Fail(err)
		return
	}
	t.log.Error(t.msg, "error", err)
}
