package explain

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
)

// ReadOnly is a client transport that sends only GET requests, never a watch: explain reads
// what is there once, and nothing it runs (the scheduler's plugins included) can change the
// cluster. A watch (an informer's, after its list) is answered here with an empty stream that
// ends with the request; a streaming list (sendInitialEvents) is refused, and the informer
// falls back to a plain list. It remembers the requests the API server refused, to name them.
type ReadOnly struct {
	next http.RoundTripper
	mu   sync.Mutex
	// refused are "<path>: <status>" of failed responses, in order, once each.
	refused []string
}

// NewReadOnly wraps next.
func NewReadOnly(next http.RoundTripper) *ReadOnly { return &ReadOnly{next: next} }

// RoundTrip implements http.RoundTripper.
func (t *ReadOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet {
		return nil, fmt.Errorf("likewise explain is read-only: refusing %s %s", req.Method, req.URL.Path)
	}
	q := req.URL.Query()
	if w := q.Get("watch"); w == "true" || w == "1" {
		if q.Get("sendInitialEvents") == "true" {
			return nil, fmt.Errorf("likewise explain lists once: refusing a streaming list of %s", req.URL.Path)
		}
		return &http.Response{
			StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:  http.Header{"Content-Type": {"application/json"}},
			Body:    &endless{ctx: req.Context(), closed: make(chan struct{})},
			Request: req,
		}, nil
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp.StatusCode >= 400 {
		t.mu.Lock()
		if msg := req.URL.Path + ": " + resp.Status; !slices.Contains(t.refused, msg) {
			t.refused = append(t.refused, msg)
		}
		t.mu.Unlock()
	}
	return resp, err
}

// Refused returns the requests the API server refused so far.
func (t *ReadOnly) Refused() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.refused)
}

// endless is a watch stream with no events: it ends when its request does or it is closed.
type endless struct {
	ctx    context.Context
	once   sync.Once
	closed chan struct{}
}

func (e *endless) Read([]byte) (int, error) {
	select {
	case <-e.ctx.Done():
	case <-e.closed:
	}
	return 0, io.EOF
}

func (e *endless) Close() error {
	e.once.Do(func() { close(e.closed) })
	return nil
}
