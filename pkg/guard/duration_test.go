package guard

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"3h", 3 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{"PT3H", 3 * time.Hour, false},
		{"pt5m", 5 * time.Minute, false},
		{"P1DT2H", 26 * time.Hour, false},
		{"PT1.5S", 1500 * time.Millisecond, false},
		{"P", 0, true},
		{"PT", 0, true},
		{"P1Y", 0, true},
		{"three hours", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
