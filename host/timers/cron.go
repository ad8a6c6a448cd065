package timers

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// ParseCron parses a cron expression into a Schedule.
//
// The standard form has five space-separated fields: minute (0-59), hour
// (0-23), day of month (1-31), month (1-12 or JAN-DEC) and day of week (0-7
// or SUN-SAT, where both 0 and 7 are Sunday). Each field is a comma-separated
// list of "*", a value, a range "a-b", or either of those followed by a step
// "/n". A step after a single value, "a/n", means a through the field's
// maximum every n. Names are case-insensitive. As in Vixie cron, when both day of month and day of week
// are restricted (neither starts with "*"), a day matches if either matches.
//
// The descriptors "@hourly", "@daily" (or "@midnight"), "@weekly",
// "@monthly", "@yearly" (or "@annually") and "@every <duration>" (a
// time.ParseDuration string above zero, such as "@every 30s") are accepted
// too. Times are computed in the location of the time passed to Next.
//
// Errors name the field and the value that is wrong.
func ParseCron(expr string) (Schedule, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "@") {
		return parseDescriptor(expr)
	}

	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return nil, fmt.Errorf("timers: cron %q has %d fields, want 5: minute hour day-of-month month day-of-week", expr, len(fields))
	}
	var s cronSchedule
	var err error
	for i, f := range cronFields {
		var set uint64
		if set, err = f.parse(fields[i]); err != nil {
			return nil, fmt.Errorf("timers: cron %q: %w", expr, err)
		}
		switch i {
		case 0:
			s.minute = set
		case 1:
			s.hour = set
		case 2:
			s.dom = set
		case 3:
			s.month = set
		case 4:
			// Day of week 7 is Sunday, stored as 0.
			if set&(1<<7) != 0 {
				set = set&^(1<<7) | 1
			}
			s.dow = set
		}
	}
	s.domAny = strings.HasPrefix(fields[2], "*")
	s.dowAny = strings.HasPrefix(fields[4], "*")
	return s, nil
}

func parseDescriptor(expr string) (Schedule, error) {
	if rest, ok := strings.CutPrefix(expr, "@every"); ok {
		arg := strings.TrimSpace(rest)
		d, err := time.ParseDuration(arg)
		if err != nil {
			return nil, fmt.Errorf("timers: cron %q: @every duration %q is invalid: use a Go duration such as 30s or 5m", expr, arg)
		}
		if d <= 0 {
			return nil, fmt.Errorf("timers: cron %q: @every duration %v is invalid: set it above zero", expr, d)
		}
		return Every(d), nil
	}

	standard := map[string]string{
		"@yearly":   "0 0 1 1 *",
		"@annually": "0 0 1 1 *",
		"@monthly":  "0 0 1 * *",
		"@weekly":   "0 0 * * 0",
		"@daily":    "0 0 * * *",
		"@midnight": "0 0 * * *",
		"@hourly":   "0 * * * *",
	}
	if five, ok := standard[strings.ToLower(expr)]; ok {
		return ParseCron(five)
	}
	return nil, fmt.Errorf("timers: cron descriptor %q is unknown: use @hourly, @daily, @weekly, @monthly, @yearly or @every <duration>", expr)
}

// cronField describes the values one field accepts.
type cronField struct {
	name     string
	min, max int
	// names maps upper-case names to values; nil when the field has none.
	names map[string]int
}

var cronFields = [5]cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day-of-month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: map[string]int{
		"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
		"JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12,
	}},
	{name: "day-of-week", min: 0, max: 7, names: map[string]int{
		"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6,
	}},
}

// parse returns the set of values text selects, bit v set for value v.
func (f cronField) parse(text string) (uint64, error) {
	var set uint64
	for item := range strings.SplitSeq(text, ",") {
		bitsOf, err := f.parseItem(item)
		if err != nil {
			return 0, err
		}
		set |= bitsOf
	}
	return set, nil
}

func (f cronField) parseItem(item string) (uint64, error) {
	rangePart, stepPart, hasStep := strings.Cut(item, "/")
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepPart)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%s field %q: step %q is invalid: use a whole number of 1 or more", f.name, item, stepPart)
		}
		// A step wider than the field selects only the first value; the
		// clamp keeps v += step below from overflowing.
		step = min(n, f.max-f.min+1)
	}

	var lo, hi int
	switch {
	case rangePart == "*":
		lo, hi = f.min, f.max
	case rangePart == "":
		return 0, fmt.Errorf("%s field %q: value is missing", f.name, item)
	default:
		loText, hiText, isRange := strings.Cut(rangePart, "-")
		var err error
		if lo, err = f.value(item, loText); err != nil {
			return 0, err
		}
		hi = lo
		if isRange {
			if hi, err = f.value(item, hiText); err != nil {
				return 0, err
			}
			if hi < lo {
				return 0, fmt.Errorf("%s field %q: range %d-%d is invalid: put the smaller value first", f.name, item, lo, hi)
			}
		} else if hasStep {
			hi = f.max
		}
	}

	var set uint64
	for v := lo; v <= hi; v += step {
		set |= 1 << v
	}
	return set, nil
}

// value parses one number or name of the field.
func (f cronField) value(item, text string) (int, error) {
	if v, ok := f.names[strings.ToUpper(text)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(text)
	if err != nil {
		return 0, fmt.Errorf("%s field %q: value %q is invalid: use a number from %d to %d%s", f.name, item, text, f.min, f.max, f.nameHint())
	}
	if v < f.min || v > f.max {
		return 0, fmt.Errorf("%s field %q: value %d is out of range: use %d to %d", f.name, item, v, f.min, f.max)
	}
	return v, nil
}

func (f cronField) nameHint() string {
	switch f.name {
	case "month":
		return " or JAN-DEC"
	case "day-of-week":
		return " or SUN-SAT"
	}
	return ""
}

// cronSchedule holds one bit per allowed value of each field.
type cronSchedule struct {
	minute, hour, dom, month, dow uint64
	domAny, dowAny                bool
}

// cronSearchYears bounds the search in Next, so that an expression that can
// never match (such as "0 0 30 2 *") returns the zero time instead of looping.
const cronSearchYears = 5

// Next returns the first whole minute strictly after after that the
// expression matches, in after's location, or the zero time when there is
// none within cronSearchYears years.
//
// TODO: across daylight-saving changes Next follows wall-clock minutes that
// exist once. A time inside a spring-forward gap is skipped that day (Vixie
// cron runs it right after the gap), and the repeated hour after a fall-back
// change is matched only in its first occurrence, so "0 * * * *" fires once
// for it.
func (s cronSchedule) Next(after time.Time) time.Time {
	loc := after.Location()
	t := after.Truncate(time.Minute).Add(time.Minute)
	limit := t.Year() + cronSearchYears

	for t.Year() <= limit {
		var next time.Time
		switch {
		case s.month&(1<<uint(t.Month())) == 0:
			next = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
		case !s.dayMatches(t):
			next = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		case s.hour&(1<<uint(t.Hour())) == 0:
			next = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
		case s.minute&(1<<uint(t.Minute())) == 0:
			// Jump to the next allowed minute in this hour, or to the
			// next hour when there is none.
			rest := s.minute >> uint(t.Minute()+1)
			if rest == 0 {
				next = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
			} else {
				next = t.Add(time.Duration(bits.TrailingZeros64(rest)+1) * time.Minute)
			}
		default:
			return t
		}

		// time.Date may return an earlier instant for a wall time inside a
		// daylight-saving gap, so the search steps one minute instead and
		// always moves forward.
		if !next.After(t) {
			next = t.Add(time.Minute)
		}
		t = next
	}
	return time.Time{}
}

func (s cronSchedule) dayMatches(t time.Time) bool {
	domOK := s.dom&(1<<uint(t.Day())) != 0
	dowOK := s.dow&(1<<uint(t.Weekday())) != 0
	switch {
	case s.domAny && s.dowAny:
		return true
	case s.domAny:
		return dowOK
	case s.dowAny:
		return domOK
	}
	return domOK || dowOK
}
