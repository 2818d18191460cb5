package bench_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"
)

// countingConn counts SetDeadline calls.
type countingConn struct {
	net.Conn
	deadlines int
}

func (c *countingConn) SetDeadline(t time.Time) error {
	c.deadlines++
	return c.Conn.SetDeadline(t)
}

// TestPostMovesTheDeadlineOncePerRenewal: a sender sets its connection's deadline once
// per renewal, not before every request (each SetDeadline arms two runtime timers), and
// again once the renewal is due.
func TestPostMovesTheDeadlineOncePerRenewal(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	req := []byte("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}")
	go func() {
		defer server.Close()
		buf := make([]byte, len(req))
		for {
			if _, err := io.ReadFull(server, buf); err != nil {
				return
			}
			body := `{"accepted":10}`
			fmt.Fprintf(server, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
	}()
	cc := &countingConn{Conn: client}
	c := &conn{nc: cc, r: bufio.NewReader(cc)}
	for i := range 50 {
		status, accepted, err := c.post(req)
		if err != nil || status != 200 || accepted != 10 {
			t.Fatalf("post %d: %d %d %v", i, status, accepted, err)
		}
	}
	if cc.deadlines != 1 {
		t.Errorf("50 posts set the deadline %d times, want once", cc.deadlines)
	}
	c.renew = time.Now().Add(-time.Second) // the renewal is due
	if _, _, err := c.post(req); err != nil {
		t.Fatal(err)
	}
	if cc.deadlines != 2 {
		t.Errorf("a post with the renewal due: %d deadlines in all, want 2", cc.deadlines)
	}
}

// TestLoadgenRunsOnLoadgenProcs: the load generator's child posts on loadgenProcs Ps,
// whatever the parent's GOMAXPROCS.
func TestLoadgenRunsOnLoadgenProcs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"accepted":10}`)
	}))
	defer srv.Close()
	spec, err := json.Marshal(loadgenJob{URL: srv.URL + "/v1/webhooks/generic", Base: time.Now(), N: 20, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), loadgenEnv+"="+string(spec), "GOMAXPROCS=2")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("load generator: %v", err)
	}
	var rep loadgenReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("load generator answered %q: %v", out, err)
	}
	if rep.Failure != "" || rep.N != 20 {
		t.Fatalf("load generator: %+v", rep)
	}
	if rep.Procs != loadgenProcs {
		t.Errorf("the load generator posted on %d Ps, want %d", rep.Procs, loadgenProcs)
	}
}
