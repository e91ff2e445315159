package resourcemanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

const (
	listScope    = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-itar"
	listSchedule = listScope + "/providers/Microsoft.Authorization/roleAssignmentSchedules/c9e264ff-3133-4776-a81a-ebc7c33c8ec6"
	listPath     = listScope + "/providers/Microsoft.Authorization/roleAssignmentScheduleInstances"
)

// instanceBody is a schedule instance as GetRoleAssignmentScheduleInstancesByScope.json
// lists one (trimmed): its role assignment is not named after the schedule.
func instanceBody(name, ra string) string {
	return fmt.Sprintf(`{"properties":{"originRoleAssignmentId":"%s/providers/Microsoft.Authorization/roleAssignments/%s",`+
		`"roleAssignmentScheduleId":"%s","status":"Provisioned","assignmentType":"Activated"},`+
		`"name":"%s","id":"%s/providers/Microsoft.Authorization/RoleAssignmentScheduleInstances/%s",`+
		`"type":"Microsoft.Authorization/RoleAssignmentScheduleInstances"}`, listScope, ra, listSchedule, name, listScope, name)
}

func TestListFollowsNextLinkOnARM(t *testing.T) {
	q := guard.ListQuery{Scope: listScope, Type: "Microsoft.Authorization/roleAssignmentScheduleInstances",
		Property: "roleAssignmentScheduleId", Equals: listSchedule}
	tests := []struct {
		name    string
		page    func(srv string, page int) (status int, body string)
		wantIDs []string // role assignment names, in order
		wantErr error    // errors.Is; nil: no error
		anyErr  bool     // an error of no particular kind
		calls   int32
	}{
		{name: "one page", calls: 1, wantIDs: []string{"ed9b8180"},
			page: func(string, int) (int, string) { return 200, `{"value":[` + instanceBody("i1", "ed9b8180") + `]}` }},
		{name: "two pages by nextLink", calls: 2, wantIDs: []string{"ed9b8180", "aa11"},
			page: func(srv string, page int) (int, string) {
				if page == 1 {
					return 200, `{"value":[` + instanceBody("i1", "ed9b8180") + `],"nextLink":"` + srv + listPath +
						`?api-version=2020-10-01&$skiptoken=p2"}`
				}
				return 200, `{"value":[` + instanceBody("i2", "aa11") + `]}`
			}},
		{name: "none", calls: 1, wantIDs: nil,
			page: func(string, int) (int, string) { return 200, `{"value":[]}` }},
		{name: "nextLink to another host is not followed", calls: 1, anyErr: true,
			page: func(string, int) (int, string) {
				return 200, `{"value":[],"nextLink":"https://attacker.invalid` + listPath + `?$skiptoken=p2"}`
			}},
		{name: "endless pages stop", calls: MaxListPages, wantErr: guard.ErrUnsupported,
			page: func(srv string, page int) (int, string) {
				return 200, fmt.Sprintf(`{"value":[],"nextLink":"%s%s?api-version=2020-10-01&$skiptoken=p%d"}`, srv, listPath, page+1)
			}},
		{name: "filter refused", calls: 1, wantErr: guard.ErrUnsupported,
			page: func(string, int) (int, string) {
				return 400, `{"error":{"code":"InvalidFilter","message":"The filter is not supported."}}`
			}},
		{name: "scope gone", calls: 1, wantErr: guard.ErrNotFound,
			page: func(string, int) (int, string) {
				return 404, `{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'rg-itar' could not be found."}}`
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				if r.Method != http.MethodGet || r.URL.Path != listPath || r.URL.Query().Get("api-version") != "2020-10-01" {
					t.Errorf("got %s %s?%s, want GET %s?api-version=2020-10-01", r.Method, r.URL.Path, r.URL.RawQuery, listPath)
				}
				if n == 1 {
					if got := r.URL.Query().Get("$filter"); got != "roleAssignmentScheduleId eq '"+listSchedule+"'" {
						t.Errorf("$filter = %q, want roleAssignmentScheduleId eq '<schedule ID>'", got)
					}
					if strings.Contains(r.URL.RawQuery, "+") {
						t.Errorf("query %q: a space must be %%20", r.URL.RawQuery)
					}
				} else if r.URL.Query().Get("$skiptoken") == "" {
					t.Errorf("page %d asked without the nextLink's skip token: %s", n, r.URL.RawQuery)
				}
				if got := r.Header.Get("Authorization"); got != "Bearer test-token" {
					t.Errorf("Authorization = %q", got)
				}
				status, body := tt.page("https://"+r.Host, int(n))
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				w.Write([]byte(body))
			})
			rs, err := c.List(context.Background(), q)
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			case tt.anyErr && err == nil:
				t.Fatal("no error")
			case tt.wantErr == nil && !tt.anyErr && err != nil:
				t.Fatal(err)
			}
			if calls.Load() != tt.calls {
				t.Errorf("ARM was called %d times, want %d", calls.Load(), tt.calls)
			}
			if err != nil {
				return
			}
			var got []string
			for _, r := range rs {
				if r.Type != "Microsoft.Authorization/RoleAssignmentScheduleInstances" || guard.TypeOf(r.ID) == "" {
					t.Errorf("listed %s of type %s", r.ID, r.Type)
				}
				var b struct {
					Properties struct {
						OriginRoleAssignmentID string `json:"originRoleAssignmentId"`
					} `json:"properties"`
				}
				if err := json.Unmarshal(r.Body, &b); err != nil {
					t.Fatal(err)
				}
				got = append(got, b.Properties.OriginRoleAssignmentID[strings.LastIndex(b.Properties.OriginRoleAssignmentID, "/")+1:])
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantIDs) {
				t.Errorf("listed role assignments %v, want %v", got, tt.wantIDs)
			}
		})
	}
}

func TestListRefusesWhatIsNotAScopeAndType(t *testing.T) {
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("ARM was asked %s %s", r.Method, r.URL)
	})
	for _, q := range []guard.ListQuery{
		{Scope: listScope + "/../../../subscriptions/other", Type: "Microsoft.Authorization/roleAssignmentScheduleInstances"},
		{Scope: listScope, Type: "Microsoft.Authorization/roleAssignmentScheduleInstances?x=1"},
		{Scope: listScope, Type: "Microsoft.Unpinned/things"},
	} {
		if _, err := c.List(context.Background(), q); !errors.Is(err, guard.ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", q, err)
		}
	}
}
