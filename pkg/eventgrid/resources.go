package eventgrid

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/exportguard/exportguard/pkg/guard"
)

// resourceData holds the fields Decode reads from the data of a Microsoft.Resources
// event (research note §2.2). status is deliberately absent: a spec example of a
// Failure event says "Succeeded" there, so the outcome comes from the type.
type resourceData struct {
	Authorization  guard.Authorization        `json:"authorization"`
	Claims         map[string]json.RawMessage `json:"claims"`
	CorrelationID  json.RawMessage            `json:"correlationId"`
	ResourceURI    json.RawMessage            `json:"resourceUri"`
	OperationName  json.RawMessage            `json:"operationName"`
	SubscriptionID json.RawMessage            `json:"subscriptionId"`
}

// resourceEventType splits Microsoft.Resources.Resource<Write|Delete|Action>
// <Success|Failure|Cancel> into the action and the outcome.
func resourceEventType(typ string) (guard.Action, guard.Outcome, bool) {
	rest, found := strings.CutPrefix(strings.ToLower(typ), "microsoft.resources.resource")
	if !found {
		return "", "", false
	}
	for _, a := range []guard.Action{guard.ActionWrite, guard.ActionDelete, guard.ActionAction} {
		switch result, _ := strings.CutPrefix(rest, string(a)); result {
		case "success":
			return a, guard.OutcomeSucceeded, true
		case "failure", "cancel":
			return a, guard.OutcomeFailed, true
		}
	}
	return "", "", false
}

func resourceChange(e event, action guard.Action, outcome guard.Outcome) (guard.Change, error) {
	var d resourceData
	if err := decodeData(e.Data, &d); err != nil {
		return guard.Change{}, err
	}
	id := text(d.ResourceURI)
	if id == "" {
		id = e.Subject
	}
	if id == "" {
		return guard.Change{}, errors.New("no resource ID: data.resourceUri and subject are empty")
	}
	if e.Time.IsZero() {
		return guard.Change{}, errors.New("missing time")
	}
	op := operation(text(d.OperationName), text(d.Authorization.Action), id, action)
	if op == "" {
		return guard.Change{}, errors.New("no operation: data.operationName and authorization.action are empty and the resource ID names no type")
	}
	sub, idSub := text(d.SubscriptionID), strings.TrimSpace(guard.SubscriptionOf(id))
	switch {
	case sub == "":
		sub = idSub
	case idSub != "" && !strings.EqualFold(sub, idSub):
		return guard.Change{}, errors.New("data.subscriptionId is not the subscription the resource ID names")
	}
	caller := guard.Identity{Authorization: d.Authorization, Claims: d.Claims}.Caller()
	return guard.Change{
		ResourceID:     id,
		SubscriptionID: sub,
		ResourceType:   guard.TypeOf(id),
		Operation:      op,
		Action:         action,
		Outcome:        outcome,
		Caller:         caller,
		CorrelationID:  text(d.CorrelationID),
		EventTime:      e.Time.UTC(),
		Source:         guard.SourceEventGrid,
		EventID:        e.ID,
	}, nil
}

// operation names the ARM operation: data.operationName (in the RBAC action's
// spelling when they agree), else the RBAC action, else the resource type and the
// verb of the event type.
func operation(opName, authAction, id string, action guard.Action) string {
	switch {
	case opName != "" && strings.EqualFold(opName, authAction):
		return authAction
	case opName != "":
		return opName
	case authAction != "":
		return authAction
	case guard.TypeOf(id) != "":
		return guard.TypeOf(id) + "/" + string(action)
	}
	return ""
}
