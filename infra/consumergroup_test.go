package infra

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The function app's consumer group has one name: the one eventhubs.tf
// creates is the one the sample settings for func start, the compose file,
// the local emulator's configuration and the README give. A sample that says
// $Default reads as the default group, which record and any other reader
// share, and they take partitions from each other.
func TestConsumerGroupIsOneName(t *testing.T) {
	t.Parallel()
	c := load(t)
	want := literalString(attr(t, c.resource(t, "azurerm_eventhub_consumer_group.function"), "name"))
	if want == "" || want == "$Default" {
		t.Fatalf("infra's function consumer group is %q: want a literal name of its own", want)
	}
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	var sample struct{ Values map[string]string }
	if err := json.Unmarshal([]byte(read("../local.settings.sample.json")), &sample); err != nil {
		t.Fatalf("local.settings.sample.json: %v", err)
	}
	compose := regexp.MustCompile(`(?m)^\s+ActivityLogConsumerGroup:\s*"?([^"\s]+)"?\s*$`).FindStringSubmatch(read("../docker-compose.yml"))
	var emulator struct {
		UserConfig struct {
			NamespaceConfig []struct {
				Entities []struct{ ConsumerGroups []struct{ Name string } }
			}
		}
	}
	if err := json.Unmarshal([]byte(read("local/eventhubs-config.json")), &emulator); err != nil {
		t.Fatalf("local/eventhubs-config.json: %v", err)
	}
	var emulated []string
	for _, ns := range emulator.UserConfig.NamespaceConfig {
		for _, e := range ns.Entities {
			for _, g := range e.ConsumerGroups {
				emulated = append(emulated, g.Name)
			}
		}
	}
	for _, tc := range []struct {
		where string
		got   string
	}{
		{"local.settings.sample.json ActivityLogConsumerGroup", sample.Values["ActivityLogConsumerGroup"]},
		{"docker-compose.yml ActivityLogConsumerGroup", func() string {
			if compose == nil {
				return ""
			}
			return compose[1]
		}()},
	} {
		if tc.got != want {
			t.Errorf("%s is %q; infra creates %q", tc.where, tc.got, want)
		}
	}
	if !slices.Contains(emulated, want) {
		t.Errorf("the local emulator makes consumer groups %v, not %q", emulated, want)
	}
	// The READMEs name it where they speak of the function app's group.
	for _, doc := range []struct{ file, pattern string }{
		{"../README.md", "`ActivityLogConsumerGroup`\\s+is\\s+`([^`]+)`"},
		{"README.md", "consumer groups `([^`]+)` \\(the function\\)"},
	} {
		text := read(doc.file)
		m := regexp.MustCompile(doc.pattern).FindStringSubmatch(text)
		if m == nil || m[1] != want {
			t.Errorf("%s does not give the function app's consumer group as `%s` (%q): %v", doc.file, want, doc.pattern, m)
		}
		if strings.Contains(text, "$Default") {
			t.Errorf("%s names $Default: the function app reads as %s", doc.file, want)
		}
	}
}
