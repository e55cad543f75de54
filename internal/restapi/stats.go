package restapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// requestStatuses are the answer statuses counted by their own label; any
// other counts as "other".
var requestStatuses = [...]int{200, 400, 401, 403, 404, 413, 429, 500, 503}

// routeCounter counts one route's answers by requestStatuses (the last slot
// is "other"): one atomic add per request.
type routeCounter struct {
	route string // path template, e.g. /apps/{app_id}/events; "unmatched" for the 404 fallback
	n     [len(requestStatuses) + 1]atomic.Int64
}

func (c *routeCounter) count(status int) {
	for i, s := range requestStatuses {
		if s == status {
			c.n[i].Add(1)
			return
		}
	}
	c.n[len(requestStatuses)].Add(1)
}

// statusOf is the status writeError answers err with (200 for nil).
func statusOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Status
	}
	return http.StatusInternalServerError
}

// RequestStatusLabels returns the label values of RouteRequests.ByStatus, in
// order: the statuses counted by name, then "other".
func RequestStatusLabels() []string {
	out := make([]string, 0, len(requestStatuses)+1)
	for _, s := range requestStatuses {
		out = append(out, strconv.Itoa(s))
	}
	return append(out, "other")
}

// RouteRequests are one route's requests answered by this API since it
// started (on either path), by RequestStatusLabels.
type RouteRequests struct {
	Method, Route string
	ByStatus      []int64
}

// Requests returns the request counters of every route.
func (a *API) Requests() []RouteRequests {
	out := make([]RouteRequests, 0, len(a.routes))
	for _, c := range a.routes {
		method, route, ok := strings.Cut(c.route, " ")
		if !ok {
			method, route = "", c.route
		}
		rr := RouteRequests{Method: method, Route: route, ByStatus: make([]int64, len(c.n))}
		for i := range c.n {
			rr.ByStatus[i] = c.n[i].Load()
		}
		out = append(out, rr)
	}
	return out
}
