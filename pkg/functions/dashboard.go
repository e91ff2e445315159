package functions

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The dashboard function (functions/dashboard/function.json): an httpTrigger
// with route "dashboard", method get, and an http output "res", run by the
// same code as the api function, so that it has the same authentication:
//
//	GET /api/dashboard   the posture page (pkg/report's HTML), reloading itself every minute
//
// Its route is a function of its own because the api function's route,
// findings/{id?}/{action?}, cannot also match /api/dashboard.

const (
	fnDashboard = "dashboard"

	// DashboardRefresh is how often the dashboard page reloads itself.
	DashboardRefresh = time.Minute
)

// Dashboard is what the dashboard needs: the posture page, rendered from the
// store. The Ingester given to NewHandler serves /api/dashboard when it
// implements Dashboard; otherwise the dashboard answers 503.
type Dashboard interface {
	// DashboardPage renders the posture as one self-contained HTML page that
	// reloads itself every refresh.
	DashboardPage(ctx context.Context, refresh time.Duration) (string, error)
}

// isDashboard reports whether the request is for /api/dashboard (whatever the
// host's route prefix): its path ends in dashboard, outside /findings/.
func isDashboard(req *httpRequest) bool {
	u, err := url.Parse(req.URL)
	if err != nil {
		return false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	for _, p := range parts {
		if strings.EqualFold(p, "findings") {
			return false
		}
	}
	return strings.EqualFold(parts[len(parts)-1], fnDashboard)
}

// dashboard answers GET /api/dashboard with the page. The caller has already
// been authenticated, as for every api request.
func (h *handler) dashboard(ctx context.Context, method string, log *slog.Logger) (int, any) {
	if method != http.MethodGet {
		return apiError(http.StatusMethodNotAllowed, "use GET /api/dashboard")
	}
	d, ok := h.ing.(Dashboard)
	if !ok {
		return apiError(http.StatusServiceUnavailable, "the dashboard is not configured")
	}
	page, err := d.DashboardPage(ctx, DashboardRefresh)
	if err != nil {
		log.Error("api: dashboard", slog.String("error", err.Error()))
		return apiError(http.StatusInternalServerError, "the store could not be read")
	}
	return http.StatusOK, htmlPage(page)
}
