package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/exportguard/exportguard/pkg/cosmos"
)

// composeFile is as much of docker-compose.yml as the test reads.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string                       `yaml:"image"`
	Command     any                          `yaml:"command"`
	Build       *composeBuild                `yaml:"build"`
	Ports       []any                        `yaml:"ports"`
	Volumes     []string                     `yaml:"volumes"`
	Environment map[string]string            `yaml:"environment"`
	NetworkMode string                       `yaml:"network_mode"`
	DependsOn   map[string]composeDependency `yaml:"depends_on"`
	Healthcheck *composeHealthcheck          `yaml:"healthcheck"`
}

// composeDependency is the long form of depends_on: the short form (a list)
// starts a service when the one it needs has started, not when it is ready.
type composeDependency struct {
	Condition string `yaml:"condition"`
	Required  *bool  `yaml:"required"`
}

type composeHealthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
	Disable     bool     `yaml:"disable"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// The services, their images, and ports on loopback only. (No Docker engine
// runs here: this reads the file, it does not run it.)
func TestDockerComposeServices(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	images := map[string]string{
		"azurite":   "mcr.microsoft.com/azure-storage/azurite:",
		"cosmosdb":  "mcr.microsoft.com/cosmosdb/linux/azure-cosmos-emulator:vnext-preview",
		"eventhubs": "mcr.microsoft.com/azure-messaging/eventhubs-emulator:",
	}
	for name, prefix := range images {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("no %s service", name)
			continue
		}
		if !strings.HasPrefix(s.Image, prefix) {
			t.Errorf("%s image %q, want %s…", name, s.Image, prefix)
		}
	}
	fn, ok := c.Services["functions"]
	if !ok || fn.Build == nil || fn.Build.Dockerfile != "Dockerfile" || fn.Build.Context != "." {
		t.Fatalf("the functions service is not built from ./Dockerfile: %+v", fn.Build)
	}
	loopback := regexp.MustCompile(`^127\.0\.0\.1:\d+(-\d+)?:\d+(-\d+)?(/tcp|/udp)?$`)
	published := map[string]string{} // container port -> service
	for name, s := range c.Services {
		if s.NetworkMode == "host" {
			t.Errorf("%s uses the host's network: nothing may listen beyond loopback", name)
		}
		for _, p := range s.Ports {
			switch p := p.(type) {
			case string:
				if !loopback.MatchString(p) {
					t.Errorf("%s publishes %q: bind it to 127.0.0.1", name, p)
				}
				parts := strings.Split(p, ":")
				published[parts[len(parts)-1]] = name
			case map[string]any:
				if p["host_ip"] != "127.0.0.1" {
					t.Errorf("%s publishes %v: bind it to 127.0.0.1", name, p)
				}
			default:
				t.Errorf("%s: port %v", name, p)
			}
		}
	}
	// The function app shares the Cosmos DB emulator's network, so that the
	// store reaches it on loopback, and is published through that service.
	if fn.NetworkMode != "service:cosmosdb" {
		t.Errorf("functions network_mode %q, want service:cosmosdb", fn.NetworkMode)
	}
	if len(fn.Ports) != 0 {
		t.Error("functions shares cosmosdb's network: its ports are published there")
	}
	port := hostPort(fn.Environment["ASPNETCORE_URLS"])
	if port == "" || published[port] != "cosmosdb" {
		t.Errorf("the function app's port (ASPNETCORE_URLS %q) is not published (on the cosmosdb service)", fn.Environment["ASPNETCORE_URLS"])
	}
	for _, dep := range []string{"azurite", "cosmosdb", "eventhubs"} {
		if _, ok := fn.DependsOn[dep]; !ok {
			t.Errorf("functions does not depend on %s", dep)
		}
	}
}

// The Event Hubs emulator gets its configuration file, which makes the hub and
// consumer groups the function app's settings name.
func TestDockerComposeEventHubsEmulator(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	eh := c.Services["eventhubs"]
	const target = "/Eventhubs_Emulator/ConfigFiles/Config.json"
	var host string
	for _, v := range eh.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target {
			host = parts[0]
		}
	}
	if host == "" {
		t.Fatalf("the emulator's configuration is not mounted at %s: %v", target, eh.Volumes)
	}
	if filepath.Clean(host) != filepath.Clean("./infra/local/eventhubs-config.json") {
		t.Errorf("configuration %s, want infra/local/eventhubs-config.json", host)
	}
	raw, err := os.ReadFile(host)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		UserConfig struct {
			NamespaceConfig []struct {
				Type, Name string
				Entities   []struct {
					Name, PartitionCount string
					ConsumerGroups       []struct{ Name string }
				}
			}
			LoggingConfig struct{ Type string }
		}
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	ns := cfg.UserConfig.NamespaceConfig
	if len(ns) != 1 || ns[0].Type != "EventHub" || ns[0].Name != "emulatorNs1" || cfg.UserConfig.LoggingConfig.Type == "" {
		t.Fatalf("%s is not an emulator configuration (one EventHub namespace emulatorNs1, a LoggingConfig): %+v", host, cfg)
	}
	fn := c.Services["functions"].Environment
	found := false
	for _, e := range ns[0].Entities {
		if e.Name != fn["ActivityLogEventHubName"] {
			continue
		}
		found = true
		var groups []string
		for _, g := range e.ConsumerGroups {
			groups = append(groups, g.Name)
		}
		for _, want := range []string{fn["ActivityLogConsumerGroup"], "exportguard-record"} {
			if !slices.Contains(groups, want) {
				t.Errorf("hub %s lacks consumer group %s (has %v)", e.Name, want, groups)
			}
		}
	}
	if !found {
		t.Errorf("the emulator makes no hub %q", fn["ActivityLogEventHubName"])
	}
	if eh.Environment["BLOB_SERVER"] != "azurite" || eh.Environment["METADATA_SERVER"] != "azurite" {
		t.Error("the emulator's storage is not the azurite service")
	}
	if !strings.Contains(eh.Environment["ACCEPT_EULA"], "ACCEPT_EULA") {
		t.Error("the EULA is accepted on the user's behalf; leave it to ACCEPT_EULA")
	}
}

// The function app's settings: the trigger's connection to the emulator, host
// storage on Azurite, and a store URL pkg/cosmos accepts.
func TestDockerComposeFunctionSettings(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	env := c.Services["functions"].Environment
	if env["FUNCTIONS_WORKER_RUNTIME"] != "custom" {
		t.Error("FUNCTIONS_WORKER_RUNTIME is not custom")
	}
	raw, err := os.ReadFile("functions/activitylog/function.json")
	if err != nil {
		t.Fatal(err)
	}
	var fj struct {
		Bindings []map[string]string `json:"bindings"`
	}
	json.Unmarshal(raw, &fj)
	conn := ""
	for _, b := range fj.Bindings {
		if b["type"] == "eventHubTrigger" {
			conn = b["connection"]
			for _, k := range []string{"eventHubName", "consumerGroup"} {
				if name := strings.Trim(b[k], "%"); env[name] == "" {
					t.Errorf("activitylog's %s reads %s, which compose does not set", k, name)
				}
			}
		}
	}
	cs := env[conn]
	if conn == "" || !strings.Contains(cs, "Endpoint=sb://eventhubs;") || !strings.Contains(cs, "UseDevelopmentEmulator=true") {
		t.Errorf("the trigger's connection %s is not the emulator: %q", conn, cs)
	}
	if !strings.Contains(env["AzureWebJobsStorage"], "BlobEndpoint=http://azurite:10000/") {
		t.Error("host storage is not the azurite service")
	}
	store := env["EXPORTGUARD_STORE"]
	if !strings.HasPrefix(store, "cosmos:") {
		t.Fatalf("EXPORTGUARD_STORE %q is not the Cosmos DB emulator", store)
	}
	o, err := cosmos.ParseURL(strings.TrimPrefix(store, "cosmos:"))
	if err != nil {
		t.Fatalf("pkg/cosmos refuses the compose store URL: %v", err)
	}
	if o.Database == "" || !strings.Contains(o.Endpoint, "127.0.0.1:8081") || env["COSMOS_KEY"] == "" {
		t.Errorf("store %+v: want the emulator on loopback with its key", o)
	}
}

// The Dockerfile: a Go build stage, then the Functions base image with the
// handler laid out as make package lays out dist/.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms, copies []string
	var env string
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "FROM "):
			froms = append(froms, line)
		case strings.HasPrefix(line, "COPY "):
			copies = append(copies, strings.Join(strings.Fields(line), " "))
		case strings.HasPrefix(line, "ENV "), strings.HasPrefix(line, "AzureFunctionsJobHost"), strings.HasPrefix(line, "FUNCTIONS_WORKER_RUNTIME"):
			env += line + "\n"
		}
	}
	if len(froms) < 2 || !strings.HasPrefix(froms[0], "FROM golang:") || !strings.HasSuffix(froms[0], " AS build") {
		t.Errorf("want a golang build stage first: %v", froms)
	}
	if last := froms[len(froms)-1]; !strings.HasPrefix(last, "FROM mcr.microsoft.com/azure-functions/") {
		t.Errorf("the final stage is not a Functions base image: %s", last)
	}
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	hj, err := os.ReadFile("host.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(hj, &host); err != nil {
		t.Fatal(err)
	}
	exe := host.CustomHandler.Description.DefaultExecutablePath
	for _, want := range []string{
		"COPY host.json /home/site/wwwroot/",
		"COPY functions/ /home/site/wwwroot/",
		"COPY --from=build /out/" + exe + " /home/site/wwwroot/" + exe,
	} {
		if !slices.Contains(copies, want) {
			t.Errorf("Dockerfile lacks %q (has %q)", want, copies)
		}
	}
	if !strings.Contains(env, "AzureWebJobsScriptRoot=/home/site/wwwroot") {
		t.Error("AzureWebJobsScriptRoot is not /home/site/wwwroot")
	}
	if !strings.Contains(string(raw), "CGO_ENABLED=0") || !strings.Contains(string(raw), "go build") {
		t.Error("the handler is not built as a static Go binary")
	}
	// Every function folder has its function.json, and COPY functions/ takes them all.
	dirs, _ := filepath.Glob("functions/*/function.json")
	if len(dirs) < 4 {
		t.Errorf("function folders: %v", dirs)
	}
	ign, err := os.ReadFile(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"local.settings.json", ".git", "node_modules/", "dist/", "*.db"} {
		if !slices.Contains(strings.Split(string(ign), "\n"), want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	for _, keep := range []string{"host.json", "functions", "go.mod", "*.go"} {
		if slices.Contains(strings.Split(string(ign), "\n"), keep) {
			t.Errorf(".dockerignore drops %s, which the build needs", keep)
		}
	}
}
