package api

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// ListOptions shape a listing of personal access tokens.
type ListOptions struct {
	// Filter are GitLab's own filters (user_id, state, created_after, ...).
	Filter url.Values
	// PerPage is the page size, 1 to MaxPageSize (0: MaxPageSize). It is the same for
	// every page: offsets are page × per_page.
	PerPage int
	// InFlight is how many pages may be requested at once (0 or 1: one after another,
	// what a LIMIT needs). GitLab's offset pages need not wait for each other; fewer
	// are in flight when GitLab says, in RateLimit-Remaining, that fewer requests remain.
	InFlight int
	// BeforeRequest runs before every request but the first (a rate limiter); an
	// error ends the listing with that error.
	BeforeRequest func(ctx context.Context) error
}

// Tokens lists personal access tokens, oldest first (sort=created_asc: a token created
// during the listing joins its end and shifts no page), one page per step, in order.
// Which page is the last is told by that page (an empty x-next-page, or a short page),
// never by x-total or x-total-pages, which GitLab leaves out above 10,000 rows and
// which a shift makes stale; x-total-pages only bounds how far pages are requested
// ahead. Without it, a listing requests up to InFlight-1 pages past its end.
func (c *Client) Tokens(ctx context.Context, o ListOptions) iter.Seq2[[]Token, error] {
	return func(yield func([]Token, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		perPage := min(max(o.PerPage, 1), MaxPageSize)
		if o.PerPage == 0 {
			perPage = MaxPageSize
		}
		q := cloneValues(o.Filter)
		q.Set("sort", "created_asc")
		q.Set("per_page", strconv.Itoa(perPage))

		first := c.page(ctx, q, 1, perPage)
		if !yield(first.tokens, first.err) || first.err != nil || first.last {
			return
		}
		last := 0                   // the first page that says it is the last; 0 while none has
		horizon := first.totalPages // pages known to exist (0: unknown, read ahead freely)
		if horizon != 0 {
			horizon = max(horizon, 2) // the first page is not the last: a stale count says less
		}
		results := make(chan page, max(o.InFlight, 1))
		inFlight, next, want := 0, 2, 2
		remaining := first.remaining
		pending := map[int]page{}
		defer func() { // the fetches still running end with the context
			cancel()
			for ; inFlight > 0; inFlight-- {
				<-results
			}
		}()
		for {
			limit := max(o.InFlight, 1)
			if remaining >= 0 && remaining < limit {
				limit = max(remaining, 1)
			}
			for inFlight < limit && (last == 0 || next <= last) && (horizon == 0 || next <= horizon) {
				if o.BeforeRequest != nil {
					if err := o.BeforeRequest(ctx); err != nil {
						yield(nil, err)
						return
					}
				}
				inFlight++
				go func(n int) { results <- c.page(ctx, q, n, perPage) }(next)
				next++
			}
			if inFlight == 0 {
				return
			}
			r := <-results
			inFlight--
			pending[r.number] = r
			if r.remaining >= 0 {
				remaining = r.remaining
			}
			if r.err == nil && r.last && (last == 0 || r.number < last) {
				last = r.number
			}
			if r.err == nil && !r.last && horizon != 0 {
				horizon = max(horizon, r.number+1) // a page past x-total-pages: the listing grew
			}
			for {
				p, ok := pending[want]
				if !ok {
					break
				}
				delete(pending, want)
				if !yield(p.tokens, p.err) || p.err != nil || (last != 0 && want >= last) {
					return
				}
				want++
			}
		}
	}
}

// page is one page of a listing as it came.
type page struct {
	number     int
	tokens     []Token
	err        error
	last       bool // x-next-page is empty, or the page is short
	totalPages int  // 0 when GitLab leaves x-total-pages out
	remaining  int  // RateLimit-Remaining, -1 when not sent
}

func (c *Client) page(ctx context.Context, q url.Values, n, perPage int) page {
	q = cloneValues(q)
	q.Set("page", strconv.Itoa(n))
	p := page{number: n, remaining: -1}
	resp, err := c.http.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/personal_access_tokens", Query: q, Idempotent: true})
	if err != nil {
		p.err = err
		return p
	}
	if p.tokens, p.err = decodeTokens(resp); p.err != nil {
		return p
	}
	h := resp.Header
	p.last = strings.TrimSpace(h.Get("X-Next-Page")) == "" || len(p.tokens) < perPage
	p.totalPages, _ = strconv.Atoi(strings.TrimSpace(h.Get("X-Total-Pages")))
	if v, err := strconv.Atoi(strings.TrimSpace(h.Get("RateLimit-Remaining"))); err == nil && v >= 0 {
		p.remaining = v
	}
	return p
}

// decodeTokens reads a page of tokens; every token must have an id.
func decodeTokens(resp *upstream.Response) ([]Token, error) {
	var tokens []Token
	if err := resp.JSON(&tokens); err != nil {
		return nil, err
	}
	for i := range tokens {
		if tokens[i].ID == 0 {
			return nil, resp.DecodeError("JSON of an unexpected shape (element %d has no id)", i)
		}
	}
	return tokens, nil
}
