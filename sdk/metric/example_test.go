package metric_test

import (
	"errors"
	"fmt"

	"github.com/poolhost/poolhost/sdk/metric"
)

// A plugin names metrics with the constants and may report any unit spelling the
// package knows; the host normalizes.
func ExampleNormalize() {
	c, err := metric.Normalize(metric.Temperature, 77, "°F")
	fmt.Println(c, err)

	_, err = metric.Normalize(metric.Signal, -70, "dBm")
	fmt.Println(errors.Is(err, metric.ErrUnknownUnit))
	// Output:
	// 25 <nil>
	// true
}

// The host keeps unhealthy values (flagged) and drops absurd ones.
func ExampleValidate() {
	for _, r := range []struct {
		name  string
		value float64
		unit  string
	}{
		{metric.PH, 7.4, ""},
		{metric.PH, 9.29, ""},
		{metric.Temperature, 212, "F"},
		{"luminosity", 0.64, ""},
	} {
		v, verdict, err := metric.Validate(r.name, r.value, r.unit)
		fmt.Printf("%s %g -> %g %v drop=%v\n", r.name, r.value, v, verdict, err != nil)
	}
	// Output:
	// ph 7.4 -> 7.4 ok drop=false
	// ph 9.29 -> 9.29 unhealthy drop=false
	// temperature 212 -> 100 absurd drop=true
	// luminosity 0.64 -> 0 unknown_metric drop=true
}

func ExampleLookup() {
	info, _ := metric.Lookup(metric.FreeChlorine)
	fmt.Println(info.Unit, info.Min, info.Healthy.Min, info.Healthy.Max)
	// Output: ppm 0 2 8
}
