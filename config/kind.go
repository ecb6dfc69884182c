package config

import (
	"errors"
	"strconv"
	"time"
)

// Kind is the type of a setting's value.
type Kind int

// The kinds of settings.
const (
	// String is any text (the zero Kind).
	String Kind = iota
	// Bool is true or false.
	Bool
	// Int is a whole number.
	Int
	// Duration is a Go duration such as 90s or 1h30m.
	Duration
	// Span is a time span in JWT_EXPIRES_IN's grammar: 30d, 12h, "2 days".
	Span
)

// String names the kind as flags show it.
func (k Kind) String() string {
	switch k {
	case Bool:
		return "bool"
	case Int:
		return "int"
	case Duration, Span:
		return "duration"
	}
	return "string"
}

// Check reports whether s reads as a value of the kind; "" is accepted for
// optional settings (Parse decides whether one may be empty).
func (k Kind) Check(s string) error {
	if s == "" {
		return nil
	}
	switch k {
	case Bool:
		if _, err := strconv.ParseBool(s); err != nil {
			return errors.New("want true or false")
		}
	case Int:
		if _, err := strconv.Atoi(s); err != nil {
			return errors.New("want a whole number")
		}
	case Duration:
		if _, err := time.ParseDuration(s); err != nil {
			return errors.New("want a Go duration such as 90s or 1h30m")
		}
	case Span:
		if _, err := ParseExpiresIn(s); err != nil {
			return errors.New("want a time span such as 30d, 12h or 45m")
		}
	}
	return nil
}
