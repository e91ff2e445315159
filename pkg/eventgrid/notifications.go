package eventgrid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/exportguard/exportguard/pkg/guard"
)

// notificationType recognises the Azure Resource Notifications events that carry a
// resource (research note §2.4, S23). Other Microsoft.ResourceNotifications types
// (health, container service, ...) are of no interest.
func notificationType(typ string) (guard.Action, bool) {
	switch strings.ToLower(typ) {
	case "microsoft.resourcenotifications.resources.createdorupdated":
		return guard.ActionWrite, true
	case "microsoft.resourcenotifications.resources.deleted":
		return guard.ActionDelete, true
	}
	return "", false
}

// notificationData is what notificationChange reads of an event's data.
type notificationData struct {
	ResourceInfo json.RawMessage `json:"resourceInfo"`
}

// notificationChange reads a Resource Notifications event. Its data.resourceInfo is
// the resource as ARM renders it, kept verbatim: booleans there may be 1 and 0, and
// the rules read them as they are.
func notificationChange(e event, action guard.Action) (guard.Change, error) {
	var d notificationData
	if err := decodeData(e.Data, &d); err != nil {
		return guard.Change{}, err
	}
	info := bytes.TrimSpace(d.ResourceInfo)
	if len(info) == 0 || info[0] != '{' {
		return guard.Change{}, errors.New("data.resourceInfo is missing or not an object")
	}
	if e.Time.IsZero() {
		return guard.Change{}, errors.New("missing time")
	}
	r, err := guard.NewResource(info, e.Time)
	if err != nil {
		return guard.Change{}, fmt.Errorf("data.resourceInfo: %w", err)
	}
	if r.ID == "" {
		r.ID = e.Subject
	}
	if r.Type = strings.TrimSpace(r.Type); r.Type == "" {
		r.Type = guard.TypeOf(r.ID)
	}
	switch {
	case r.ID == "":
		return guard.Change{}, errors.New("no resource ID: data.resourceInfo.id and subject are empty")
	case r.Type == "":
		return guard.Change{}, errors.New("no resource type: data.resourceInfo.type is empty and the ID names none")
	}
	if action == guard.ActionDelete {
		r = &guard.Resource{ID: r.ID, Type: r.Type, Deleted: true, ObservedAt: r.ObservedAt}
	}
	return guard.Change{
		ResourceID:     r.ID,
		SubscriptionID: strings.TrimSpace(guard.SubscriptionOf(r.ID)),
		ResourceType:   r.Type,
		Operation:      r.Type + "/" + string(action),
		Action:         action,
		Outcome:        guard.OutcomeSucceeded,
		EventTime:      e.Time.UTC(),
		Source:         guard.SourceEventGrid,
		EventID:        e.ID,
		Resource:       r,
	}, nil
}
