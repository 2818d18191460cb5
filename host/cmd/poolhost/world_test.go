package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// sender is a generic device linked to a pool on a served host: every post is one
// signed Standard Webhooks delivery with one reading whose value is unique, so what was
// acknowledged can be looked up in the database afterwards.
type sender struct {
	path   string // the webhook path; posts go to any host serving the database
	secret string
	start  time.Time
	n      atomic.Int64
	client *http.Client
}

// newSender makes an admin (through the CLI), a pool, a generic account and its linked
// device on the host at base.
func newSender(t *testing.T, b e2eBuild, c e2eConfig, base string) (*sender, string) {
	t.Helper()
	cliOK(t, b, "users", "create", "--email", "admin@example.com", "--admin", "--config", c.path)
	token := cliOK(t, b, "tokens", "create", "--email", "admin@example.com", "--config", c.path)
	status, body := postJSON(t, base+"/v1/pools", token, map[string]any{"name": "Backyard"})
	if status != http.StatusCreated {
		t.Fatalf("create pool: %d %s", status, body)
	}
	var pool struct{ ID int64 }
	_ = json.Unmarshal(body, &pool)
	status, body = postJSON(t, base+"/v1/providers/generic/connect", token, map[string]any{"input": map[string]string{"devices": "pool-probe-1"}})
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("connect generic: %d %s", status, body)
	}
	var conn struct {
		Account struct{ ID int64 } `json:"account"`
		Webhook struct{ URL, Secret string }
	}
	if err := json.Unmarshal(body, &conn); err != nil || conn.Webhook.URL == "" {
		t.Fatalf("connect answer %s: %v", body, err)
	}
	status, body = postJSON(t, fmt.Sprintf("%s/v1/accounts/%d/discover", base, conn.Account.ID), token, nil)
	var disc struct{ Devices []struct{ ID int64 } }
	if err := json.Unmarshal(body, &disc); status != http.StatusOK || err != nil || len(disc.Devices) != 1 {
		t.Fatalf("discover: %d %s", status, body)
	}
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/v1/devices/%d/link", base, disc.Devices[0].ID), strings.NewReader(fmt.Sprintf(`{"poolId":%d}`, pool.ID)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("link: %v %v", resp, err)
	}
	resp.Body.Close()
	path := strings.TrimPrefix(conn.Webhook.URL, c.baseURL)
	return &sender{path: path, secret: conn.Webhook.Secret, start: time.Now().UTC().Add(-time.Hour).Truncate(time.Second),
		client: &http.Client{Timeout: time.Minute}}, token
}

// post sends one reading to the host at base and returns its value and the status.
func (s *sender) post(t *testing.T, base string) (float64, int, error) {
	n := s.n.Add(1)
	value := float64(n)
	at := s.start.Add(time.Duration(n) * time.Millisecond).Format(time.RFC3339Nano)
	body := []byte(fmt.Sprintf(`{"device_id":"pool-probe-1","readings":[{"metric":"tds","value":%g,"recorded_at":%q}]}`, value, at))
	id, ts := "msg_"+strconv.FormatInt(n, 10), strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, base+s.path, bytes.NewReader(body))
	if err != nil {
		return value, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", signStandard(t, s.secret, id, ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return value, 0, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode == http.StatusOK && !strings.Contains(b.String(), `"accepted":1`) {
		return value, resp.StatusCode, fmt.Errorf("200 without the reading accepted: %s", b.String())
	}
	return value, resp.StatusCode, nil
}

// storedValues is every tds value in the database at url.
func storedValues(t *testing.T, url string) map[float64]bool {
	t.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var vs []float64
	if err := st.DB().Select(&vs, `SELECT value FROM sensor_readings WHERE metric = 'tds'`); err != nil {
		t.Fatal(err)
	}
	out := map[float64]bool{}
	for _, v := range vs {
		out[v] = true
	}
	return out
}

// copySecrets gives config b the secret files of config a (the same credentials key
// and webhook secrets), as replicas share them.
func copySecrets(t *testing.T, a, b e2eConfig) {
	t.Helper()
	src, dst := filepath.Join(filepath.Dir(a.path), "data"), filepath.Join(filepath.Dir(b.path), "data")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "dev-") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
