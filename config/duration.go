package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// expiresPattern is the grammar of jsonwebtoken's expiresIn strings (the "ms"
// library): a number, optional spaces, an optional unit.
var expiresPattern = regexp.MustCompile(`(?i)^(-?(?:\d+)?\.?\d+) *(milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|years?|yrs?|y)?$`)

var units = map[string]float64{
	"ms": 1, "msec": 1, "msecs": 1, "millisecond": 1, "milliseconds": 1,
	"s": 1e3, "sec": 1e3, "secs": 1e3, "second": 1e3, "seconds": 1e3,
	"m": 6e4, "min": 6e4, "mins": 6e4, "minute": 6e4, "minutes": 6e4,
	"h": 36e5, "hr": 36e5, "hrs": 36e5, "hour": 36e5, "hours": 36e5,
	"d": 864e5, "day": 864e5, "days": 864e5,
	"w": 6048e5, "week": 6048e5, "weeks": 6048e5,
	"y": 315576e5, "yr": 315576e5, "yrs": 315576e5, "year": 315576e5, "years": 315576e5,
}

// maxTokenTTL keeps expiry arithmetic far from overflow (100 years).
const maxTokenTTL = 100 * 365 * 24 * time.Hour

// ParseExpiresIn reads JWT_EXPIRES_IN as Strapi's jsonwebtoken does: a string
// with a unit is a time span ("45m", "10h", "2 days", "7d", "2y"); a string
// without a unit is milliseconds ("120" is 120 ms). Use ExpiresInSeconds for a
// number of seconds. The span must be positive and at most 100 years.
func ParseExpiresIn(s string) (time.Duration, error) {
	trimmed := strings.TrimSpace(s)
	if len(trimmed) > 100 {
		return 0, fmt.Errorf("config: JWT_EXPIRES_IN %.20q…: too long", s)
	}
	m := expiresPattern.FindStringSubmatch(trimmed)
	if m == nil {
		return 0, fmt.Errorf("config: JWT_EXPIRES_IN %q: want a time span such as 30d, 12h, 45m or \"2 days\"", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("config: JWT_EXPIRES_IN %q: %w", s, err)
	}
	unit := strings.ToLower(m[2])
	if unit == "" {
		unit = "ms"
	}
	return checkTTL(s, n*units[unit])
}

// ExpiresInSeconds is the numeric form of expiresIn: a number of seconds.
func ExpiresInSeconds(n float64) (time.Duration, error) {
	return checkTTL(strconv.FormatFloat(n, 'g', -1, 64), n*1e3)
}

func checkTTL(raw string, ms float64) (time.Duration, error) {
	if math.IsNaN(ms) || ms < 1 {
		return 0, fmt.Errorf("config: JWT_EXPIRES_IN %q: must be positive", raw)
	}
	if ms > float64(maxTokenTTL/time.Millisecond) {
		return 0, fmt.Errorf("config: JWT_EXPIRES_IN %q: longer than 100 years", raw)
	}
	return time.Duration(math.Round(ms)) * time.Millisecond, nil
}
