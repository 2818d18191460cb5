// Package config loads the host's single HCL configuration file.
//
// Durations are strings ("5s", "2m", "30d"). Secrets (the credentials key and each
// provider's secrets) must come from env("NAME") or file("path"); an inline literal is
// refused, so a config file can be committed or pasted into a ticket without leaking
// anything. file() paths are relative to the config file, so a config and its secret files
// travel together; plugin_dir and database_url are used as given (relative to the working
// directory). Every validation error names the file, the line and the problem.
package config
