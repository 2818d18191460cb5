package acmetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/poolhost/poolhost/sdk/signature"
)

// WebhookSecret is a valid Standard Webhooks secret for tests: configure it as the
// provider's webhook_secret (or use it as an account secret) and sign with SignWebhook.
const WebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// Event is the body of an Acme webhook delivery.
type Event struct {
	Event    string    `json:"event"`
	DeviceID string    `json:"device_id,omitempty"`
	Readings []Reading `json:"readings,omitempty"`
}

// ReadingsEvent builds the JSON body Acme sends when a device measured something.
func ReadingsEvent(deviceID string, readings ...Reading) []byte {
	b, err := json.Marshal(Event{Event: "readings.created", DeviceID: deviceID, Readings: readings})
	if err != nil {
		panic(fmt.Sprintf("acmetest: marshal event: %v", err)) // cannot happen for these types
	}
	return b
}

// SignWebhook returns the headers Acme attaches to a delivery: webhook-id,
// webhook-timestamp and webhook-signature under secret, as of at.
func SignWebhook(secret, id string, at time.Time, body []byte) (http.Header, error) {
	s, err := signature.NewStandardWebhooks(secret)
	if err != nil {
		return nil, fmt.Errorf("sign webhook: %w", err)
	}
	h := s.Headers(id, at, body)
	h.Set("Content-Type", "application/json")
	return h, nil
}
