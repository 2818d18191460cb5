// Command testhost starts a plugin manager from a config file, prints "pid <provider>
// <pid>" for each running plugin and "ready", then waits to be killed. The plugin
// manager's tests SIGKILL it and check that no plugin outlives it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr"
)

func main() {
	cfg, err := config.Load(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	m := pluginmgr.New(nil, nil, cfg)
	if err := m.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, s := range m.Statuses() {
		fmt.Printf("pid %s %d\n", s.Provider, s.PID)
	}
	fmt.Println("ready")
	select {}
}
