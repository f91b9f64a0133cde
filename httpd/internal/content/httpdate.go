package content

import "time"

// HTTP-date (RFC 9110 §5.6.7) formatting and parsing by hand: time.Format
// and time.Parse would allocate on every conditional request.

var (
	dayNames   = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	monthNames = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	// longDayNames are rfc850-date's day-name-l, in dayNames' order.
	longDayNames = [7]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

	// The range an IMF-fixdate's four-digit year can express.
	minHTTPDate = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	maxHTTPDate = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// AppendHTTPDate appends t as an IMF-fixdate in GMT, the form every sender
// must use (RFC 9110 §5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT", for
// Last-Modified and Date. Sub-second precision is dropped. Times outside
// years 0000-9999, which the format cannot express, are clamped to its
// first or last second.
func AppendHTTPDate(dst []byte, t time.Time) []byte {
	t = t.UTC()
	if t.Before(minHTTPDate) {
		t = minHTTPDate
	} else if t.After(maxHTTPDate) {
		t = maxHTTPDate
	}
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	dst = append(dst, dayNames[t.Weekday()]...)
	dst = append(dst, ", "...)
	dst = append2(dst, day)
	dst = append(dst, ' ')
	dst = append(dst, monthNames[month-1]...)
	dst = append(dst, ' ')
	dst = append2(dst, year/100)
	dst = append2(dst, year%100)
	dst = append(dst, ' ')
	dst = append2(dst, hour)
	dst = append(dst, ':')
	dst = append2(dst, minute)
	dst = append(dst, ':')
	dst = append2(dst, sec)
	return append(dst, " GMT"...)
}

// append2 appends 0 <= v < 100 as two digits.
func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// ParseHTTPDate parses an HTTP-date in any of its three forms (RFC 9110
// §5.6.7): IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), the obsolete
// RFC 850 form ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6
// 08:49:37 1994"). Surrounding OWS is ignored; anything else that does not
// fit a form exactly, or names a day that does not exist, is refused.
// Day and month names are matched case-insensitively, as net/http does.
// The day name is checked for spelling, not against the date. Second 60
// (a leap second, allowed by the grammar) is the next minute's first.
// A two-digit RFC 850 year is the year with those last digits that is at
// most 50 years ahead of the current year and less than 50 behind it
// (§5.6.7: one more than 50 years ahead is in the past).
// The result is in UTC.
func ParseHTTPDate(v []byte) (time.Time, bool) {
	sec, ok := parseHTTPDate(v, 0)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(sec, 0).UTC(), true
}

// parseHTTPDate is ParseHTTPDate returning Unix seconds. nowYear places
// RFC 850's two-digit years; 0 means read the clock, which is done only for
// that rare form.
func parseHTTPDate(v []byte, nowYear int) (int64, bool) {
	v = trimOWS(v)
	var year, month, day int
	var clock []byte
	var ok bool
	switch {
	case len(v) == 29 && v[3] == ',':
		// Sun, 06 Nov 1994 08:49:37 GMT
		if dayIndex(v[:3]) < 0 || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' ||
			v[16] != ' ' || v[25] != ' ' || string(v[26:]) != "GMT" {
			return 0, false
		}
		day, ok = digits(v[5:7])
		if !ok {
			return 0, false
		}
		month = monthIndex(v[8:11]) + 1
		year, ok = digits(v[12:16])
		clock = v[17:25]
	case len(v) == 24 && v[3] == ' ':
		// Sun Nov  6 08:49:37 1994
		if dayIndex(v[:3]) < 0 || v[7] != ' ' || v[10] != ' ' || v[19] != ' ' {
			return 0, false
		}
		month = monthIndex(v[4:7]) + 1
		if v[8] == ' ' {
			day, ok = digits(v[9:10])
		} else {
			day, ok = digits(v[8:10])
		}
		if !ok {
			return 0, false
		}
		year, ok = digits(v[20:24])
		clock = v[11:19]
	default:
		// Sunday, 06-Nov-94 08:49:37 GMT
		const tail = len(" 06-Nov-94 08:49:37 GMT")
		comma := len(v) - tail - 1
		if comma < 6 || comma > 9 || v[comma] != ',' || longDayIndex(v[:comma]) < 0 {
			return 0, false
		}
		t := v[comma+1:]
		if t[0] != ' ' || t[3] != '-' || t[7] != '-' || t[10] != ' ' ||
			t[19] != ' ' || string(t[20:]) != "GMT" {
			return 0, false
		}
		day, ok = digits(t[1:3])
		if !ok {
			return 0, false
		}
		month = monthIndex(t[4:7]) + 1
		var yy int
		yy, ok = digits(t[8:10])
		if nowYear == 0 {
			nowYear = time.Now().UTC().Year()
		}
		// The year with these last two digits in [now-49, now+50].
		year = nowYear - nowYear%100 + yy
		if year > nowYear+50 {
			year -= 100
		} else if year < nowYear-49 {
			year += 100
		}
		clock = t[11:19]
	}
	if !ok || month == 0 || day < 1 || day > daysIn(month, year) {
		return 0, false
	}
	secs, ok := parseClock(clock)
	if !ok {
		return 0, false
	}
	return daysFromCivil(year, month, day)*86400 + secs, true
}

// parseClock parses "hh:mm:ss" into seconds since midnight.
func parseClock(c []byte) (int64, bool) {
	if c[2] != ':' || c[5] != ':' {
		return 0, false
	}
	h, ok1 := digits(c[0:2])
	m, ok2 := digits(c[3:5])
	s, ok3 := digits(c[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || s > 60 {
		return 0, false
	}
	return int64(h*3600 + m*60 + s), true
}

// digits parses a short all-digit field.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// dayIndex returns the index of a three-letter day name, or -1.
func dayIndex(b []byte) int {
	for i, d := range dayNames {
		if equalFoldMixed(b, d) {
			return i
		}
	}
	return -1
}

// longDayIndex returns the index of a full day name, or -1.
func longDayIndex(b []byte) int {
	for i, d := range longDayNames {
		if equalFold(b, d) {
			return i
		}
	}
	return -1
}

// monthIndex returns the index of a three-letter month name, or -1.
func monthIndex(b []byte) int {
	for i, m := range monthNames {
		if equalFoldMixed(b, m) {
			return i
		}
	}
	return -1
}

// equalFoldMixed is equalFold for an s in any ASCII case.
func equalFoldMixed(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// daysIn returns the number of days in month (1-12) of year (proleptic
// Gregorian).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days from 1970-01-01 to the given date
// (proleptic Gregorian; Howard Hinnant's days_from_civil). Years here are
// 0-9999, so the divisions need no care for negatives.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	y += 400 // keep y non-negative for year 0 in January and February
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era-1)*146097 + int64(doe) - 719468
}
