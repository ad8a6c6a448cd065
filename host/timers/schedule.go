package timers

import "time"

// Schedule returns the times at which a SetSchedule timer fires.
//
// Next returns the first time strictly after after, or the zero time when
// there is none, which ends the timer. A timer also ends when Next returns a
// time at or before the time the timer fired. Implementations must be safe for
// concurrent use; the Manager calls Next under its lock, so Next must not
// call the Manager.
type Schedule interface {
	Next(after time.Time) time.Time
}

// Every returns a Schedule that fires every d. A d of zero or less gives a
// Schedule with no times, which SetSchedule rejects.
func Every(d time.Duration) Schedule { return everySchedule(d) }

type everySchedule time.Duration

func (s everySchedule) Next(after time.Time) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return after.Add(time.Duration(s))
}
