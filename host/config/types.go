package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as a string such as "30s" or "1500ms".
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q: write a number with a unit, such as \"30s\" or \"1500ms\"", text)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration in Go's notation.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ByteSize is a size in bytes, written as an integer or as a string with a
// unit: "512KiB", "64MiB", "1GiB" (powers of 1024) or "10MB" (powers of 1000).
type ByteSize uint64

var byteUnits = []struct {
	suffix string
	mult   uint64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// UnmarshalTOML accepts an integer or a string with a unit.
func (b *ByteSize) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("invalid size %d: must not be negative", x)
		}
		*b = ByteSize(x)
		return nil
	case string:
		return b.parse(x)
	}
	return fmt.Errorf("invalid size %v: write an integer number of bytes or a string such as \"64MiB\"", v)
}

func (b *ByteSize) parse(s string) error {
	t := strings.TrimSpace(s)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 64)
			if err != nil {
				break
			}
			*b = ByteSize(n * u.mult)
			return nil
		}
	}
	n, err := strconv.ParseUint(t, 10, 64)
	if err != nil {
		return fmt.Errorf("invalid size %q: write an integer number of bytes or a number with KiB, MiB, GiB, KB, MB or GB", s)
	}
	*b = ByteSize(n)
	return nil
}
