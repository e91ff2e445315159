package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
)

// make package stages the app for the Functions host (DESIGN 2; research note
// §1): host.json with the function folders beside it, the handler executable
// that host.json names, linux/amd64, and every function's bindings as the
// handler reads them. The test runs the Makefile's own recipe (make package
// DIST=DIR) and checks what a host would find in DIR.

// makeTarget runs make with the given arguments in the module root.
func makeTarget(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	// The go that runs this test builds the binary too.
	//lint:ignore SA1019 a test binary runs where it was built: GOROOT is the toolchain running this test, the one that must build exportguard
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	cmd := exec.Command("make", append([]string{"-s", "GO=" + goTool}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// stagedFunction is what the handler reads from a function: its trigger's
// binding name, and the output binding names.
type stagedFunction struct {
	Name    string
	Outputs []string
}

// handlerBindings is what pkg/functions reads for each kind of trigger
// (handler.go: bindEvents, bindEvent, bindTimer, bindReq, bindRes).
var handlerBindings = map[string]stagedFunction{
	"eventHubTrigger":  {"events", nil},
	"eventGridTrigger": {"event", nil},
	"timerTrigger":     {"timer", nil},
	"httpTrigger":      {"req", []string{"res"}},
}

// knownFunctions are the functions of issue 7's time, each with its trigger;
// folders added since are held to handlerBindings and the handler's answers.
var knownFunctions = map[string]string{
	"activitylog":    "eventHubTrigger",
	"resourceevents": "eventGridTrigger",
	"sweep":          "timerTrigger",
	"health":         "httpTrigger",
	"api":            "httpTrigger",
	"eventgrid":      "httpTrigger",
}

// triggerValue is a Data value of the trigger's type as the host sends it.
var triggerValue = map[string]any{
	"eventHubTrigger":  `["{\"records\":[]}"]`, // a JSON string holding the array of bodies
	"eventGridTrigger": map[string]any{"id": "1", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "data": map[string]any{}},
	"timerTrigger":     map[string]any{"Schedule": map[string]any{"AdjustForDST": true}, "IsPastDue": false},
	"httpTrigger":      map[string]any{"Url": "http://localhost:7071/api/x", "Method": "GET", "Query": map[string]any{}, "Headers": map[string]any{}},
}

func TestPackageStagesWhatTheHostExpects(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the linux/amd64 binary")
	}
	dist := filepath.Join(t.TempDir(), "dist")
	if out, err := makeTarget(t, "package", "DIST="+dist); err != nil {
		t.Fatalf("make package DIST=%s: %v\n%s", dist, err, out)
	}

	// host.json, as in the repository, names the executable beside it.
	hostRaw, err := os.ReadFile(filepath.Join(dist, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	if repo, _ := os.ReadFile("host.json"); !bytes.Equal(hostRaw, repo) {
		t.Error("dist/host.json differs from host.json")
	}
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string   `json:"defaultExecutablePath"`
				Arguments             []string `json:"arguments"`
				WorkingDirectory      string   `json:"workingDirectory"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(hostRaw, &host); err != nil {
		t.Fatal(err)
	}
	d := host.CustomHandler.Description
	if !slices.Equal(d.Arguments, []string{"serve"}) || d.WorkingDirectory != "" {
		t.Errorf("customHandler.description = %+v, want arguments [serve] in the app root", d)
	}
	// A relative defaultExecutablePath is taken from the app root when the
	// file exists there (else looked up on PATH, §1.1): it must be there.
	exe := filepath.Join(dist, filepath.FromSlash(d.DefaultExecutablePath))
	if d.DefaultExecutablePath == "" || filepath.IsAbs(d.DefaultExecutablePath) || filepath.Dir(exe) != dist {
		t.Fatalf("defaultExecutablePath %q, want a file name in the app root", d.DefaultExecutablePath)
	}
	fi, err := os.Stat(exe)
	if err != nil {
		t.Fatalf("the executable host.json names is not staged: %v", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("%s: mode %v, want an executable file", d.DefaultExecutablePath, fi.Mode())
	}
	checkLinuxAMD64(t, exe)

	// Beside host.json: the executable, local.settings.json, and one folder
	// per function, nothing else.
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	var folders, files []string
	for _, e := range entries {
		if e.IsDir() {
			folders = append(folders, e.Name())
		} else {
			files = append(files, e.Name())
		}
	}
	if diff := cmp.Diff([]string{d.DefaultExecutablePath, "host.json", "local.settings.json"}, files); diff != "" {
		t.Errorf("files in dist/ (-want +got):\n%s", diff)
	}
	repoFolders, _ := filepath.Glob("functions/*/function.json")
	var want []string
	for _, p := range repoFolders {
		want = append(want, filepath.Base(filepath.Dir(p)))
	}
	if diff := cmp.Diff(want, folders); diff != "" {
		t.Errorf("function folders in dist/ (-want functions/ +got):\n%s", diff)
	}
	for name := range knownFunctions {
		if !slices.Contains(folders, name) {
			t.Errorf("function folder %s is not staged", name)
		}
	}

	var settings struct{ Values map[string]string }
	if raw, err := os.ReadFile(filepath.Join(dist, "local.settings.json")); err != nil || json.Unmarshal(raw, &settings) != nil {
		t.Errorf("dist/local.settings.json: %v", err)
	} else if settings.Values["FUNCTIONS_WORKER_RUNTIME"] != "custom" {
		t.Errorf("FUNCTIONS_WORKER_RUNTIME = %q, want custom", settings.Values["FUNCTIONS_WORKER_RUNTIME"])
	}

	// Each folder's bindings are the ones the handler reads, and the handler
	// answers the host's POST /<folder> with them (and refuses it without).
	h := functions.NewHandler(functions.Options{Ingester: nopIngester{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for _, name := range folders {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dist, name, "function.json"))
			if err != nil {
				t.Fatal(err)
			}
			if repo, _ := os.ReadFile(filepath.Join("functions", name, "function.json")); !bytes.Equal(raw, repo) {
				t.Errorf("dist/%s/function.json differs from functions/%s/function.json", name, name)
			}
			var fj struct {
				Bindings []struct{ Type, Name, Direction string }
			}
			if err := json.Unmarshal(raw, &fj); err != nil {
				t.Fatal(err)
			}
			var trigger string
			var got stagedFunction
			for _, b := range fj.Bindings {
				switch {
				case b.Direction == "in" && strings.HasSuffix(b.Type, "Trigger"):
					if trigger != "" {
						t.Errorf("two triggers")
					}
					trigger, got.Name = b.Type, b.Name
				case b.Direction == "out":
					got.Outputs = append(got.Outputs, b.Name)
				default:
					t.Errorf("binding %+v: the handler reads no other input", b)
				}
			}
			if want, ok := knownFunctions[name]; ok && trigger != want {
				t.Errorf("trigger %q, want %s", trigger, want)
			}
			want, ok := handlerBindings[trigger]
			if !ok {
				t.Fatalf("trigger %q: the handler serves no function of that kind", trigger)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("bindings (-what the handler reads +function.json):\n%s", diff)
			}
			post := func(data map[string]any) int {
				body, _ := json.Marshal(map[string]any{"Data": data, "Metadata": map[string]any{}})
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/"+name, bytes.NewReader(body)))
				return w.Code
			}
			if code := post(map[string]any{got.Name: triggerValue[trigger]}); code != http.StatusOK {
				t.Errorf("POST /%s with Data.%s = %d, want 200", name, got.Name, code)
			}
			if trigger != "timerTrigger" { // a sweep needs nothing from its timer
				if code := post(map[string]any{got.Name + "x": triggerValue[trigger]}); code != http.StatusBadRequest {
					t.Errorf("POST /%s without Data.%s = %d, want 400: the handler does not read that binding", name, got.Name, code)
				}
			}
		})
	}
}

// nopIngester takes everything and does nothing.
type nopIngester struct{}

func (nopIngester) Ingest(context.Context, guard.Source, []byte, time.Time) (guard.Summary, error) {
	return guard.Summary{}, nil
}
func (nopIngester) Sweep(context.Context, time.Time) (guard.Summary, error) {
	return guard.Summary{}, nil
}

// checkLinuxAMD64 checks that path is a Go executable for linux/amd64 that
// needs no C library (the Functions Linux images have one, but nothing here
// should depend on which).
func checkLinuxAMD64(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s is not an ELF executable: %v", path, err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		t.Errorf("ELF %v %v %v, want ELFCLASS64 EM_X86_64 ET_EXEC", f.Class, f.Machine, f.Type)
	}
	if interp := f.Section(".interp"); interp != nil {
		t.Error("the executable asks for a dynamic loader: it was not built with CGO_ENABLED=0")
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["GOOS"] != "linux" || settings["GOARCH"] != "amd64" || settings["CGO_ENABLED"] != "0" || bi.Path != "github.com/exportguard/exportguard" {
		t.Errorf("built as %s GOOS=%s GOARCH=%s CGO_ENABLED=%s, want the module's main for linux/amd64 without cgo",
			bi.Path, settings["GOOS"], settings["GOARCH"], settings["CGO_ENABLED"])
	}
}

func TestMakeFuncWithoutCoreTools(t *testing.T) {
	t.Parallel()
	dist := filepath.Join(t.TempDir(), "dist")
	out, err := makeTarget(t, "func", "DIST="+dist, "FUNC=exportguard-test-no-such-func")
	if err == nil {
		t.Fatalf("make func without the Core Tools succeeded:\n%s", out)
	}
	for _, s := range []string{"Azure Functions Core Tools", "not installed", "cannot run the app under the Functions host",
		"https://learn.microsoft.com/azure/azure-functions/functions-run-local", "azure-functions-core-tools@4"} {
		if !strings.Contains(out, s) {
			t.Errorf("make func says:\n%s\nwant it to say %q", out, s)
		}
	}
	if _, err := os.Stat(dist); err == nil {
		t.Error("make func staged dist/ before finding out that it cannot run it")
	}
}
