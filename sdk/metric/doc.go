// Package metric is poolhost's measurement vocabulary: the metric names plugins put in
// [github.com/poolhost/poolhost/sdk.Reading], each metric's canonical unit, the unit
// spellings providers use and how to convert them, and two ranges per metric.
//
// The hard range (Info.Min, Info.Max) bounds what is physically possible for a pool
// sensor; a value outside it is a broken sensor or a parsing bug and the host drops it.
// The healthy range (Info.Healthy) is the regulatory "acceptable" band; a value outside
// it is real water chemistry that an owner needs to see, so the host keeps it and only
// downgrades its quality.
//
// Signal strength comes in two incompatible scales, so it is two metrics: [Signal] is a
// percentage (Ondilo's "rssi") and [SignalDBm] is received power in dBm (LoRaWAN
// gateways' rssi). Normalize refuses to turn one into the other.
//
// Unit spellings Normalize accepts (case-insensitive, surrounding spaces ignored; the
// empty unit means canonical):
//
//	pH                 pH
//	mV                 mV, millivolt; V, volt (×1000)
//	C                  C, °C, ℃, degC, celsius; F, °F, ℉, degF, fahrenheit; K, kelvin
//	ppm                ppm, mg/L; ppb, µg/L (×0.001); g/L (×1000)
//	uS/cm              uS/cm, µS/cm, μS/cm; mS/cm (×1000); S/m (×10000); mS/m (×10)
//	%                  %, percent, pct
//	dBm                dBm
//
// This package imports nothing from poolhost, so the root sdk package may use it.
package metric
