package cli

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// servedFunctions lists the functions serve answers for, one line each with
// its trigger, from the function.json files App.Functions holds (main embeds
// functions/*/function.json): the help names what the host will invoke, not a
// list written by hand that falls behind when a function is added.
func (a *App) servedFunctions() string {
	if a.Functions == nil {
		return "  (no functions folder given)\n"
	}
	names, err := fs.Glob(a.Functions, "functions/*/function.json")
	if err != nil || len(names) == 0 {
		return "  (no functions/*/function.json found)\n"
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fn := path.Base(path.Dir(name))
		fmt.Fprintf(&b, "  %-15s %s\n", fn, a.triggerOf(name))
	}
	return b.String()
}

// triggerOf says what starts a function: its trigger binding's type, with the
// schedule of a timer or the route and methods of an HTTP trigger.
func (a *App) triggerOf(name string) string {
	raw, err := fs.ReadFile(a.Functions, name)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	var fj struct {
		Bindings []struct {
			Type      string   `json:"type"`
			Direction string   `json:"direction"`
			Schedule  string   `json:"schedule"`
			Route     string   `json:"route"`
			Methods   []string `json:"methods"`
		} `json:"bindings"`
	}
	if err := json.Unmarshal(raw, &fj); err != nil {
		return "unreadable: " + err.Error()
	}
	for _, b := range fj.Bindings {
		if !strings.HasSuffix(b.Type, "Trigger") {
			continue
		}
		switch {
		case b.Schedule != "":
			return b.Type + " " + b.Schedule
		case b.Route != "":
			return b.Type + " " + strings.ToUpper(strings.Join(b.Methods, ",")) + " /api/" + b.Route
		}
		return b.Type
	}
	return "no trigger binding"
}
