package ondilo_test

import (
	"testing"

	"github.com/poolhost/poolhost/plugins/ondilo"
)

var transports = []transport{
	{name: "direct", wrap: func(_ *testing.T, a *ondilo.Adapter) client { return a }},
}
