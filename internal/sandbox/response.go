package sandbox

import (
	"net/http"
	"strconv"
	"sync"
)

// response is an upstream answer held in memory before it is written, so
// that faults can rewrite, cut or replace it and the request log can record
// the status actually sent.
type response struct {
	status int
	header http.Header
	body   []byte
	// noContentType suppresses net/http's Content-Type sniffing: the Query
	// Server sends none, even on JSON.
	noContentType bool
	pooled        *[]byte
}

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// pooledBody hands out a reusable buffer: list pages are large and frequent
// in benchmarks, and reuse keeps the sandbox's per-page cost flat.
func pooledBody() *[]byte {
	b := bodyPool.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

func (r *response) release() {
	if r.pooled != nil {
		*r.pooled = r.body[:0]
		if cap(*r.pooled) <= 4<<20 {
			bodyPool.Put(r.pooled)
		}
		r.pooled = nil
		r.body = nil
	}
}

func newResponse(status int, body []byte) *response {
	return &response{status: status, header: http.Header{}, body: body}
}

func (r *response) write(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range r.header {
		h[k] = v
	}
	if r.noContentType {
		h["Content-Type"] = nil
	}
	h.Set("Content-Length", strconv.Itoa(len(r.body)))
	w.WriteHeader(r.status)
	if len(r.body) > 0 {
		_, _ = w.Write(r.body)
	}
}
