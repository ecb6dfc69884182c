package handlers

import (
	"bytes"
	"encoding/json"
	"sort"
)

// credentialKeys are the body keys holding credentials and identifiers:
// their strings may hold no control character at all. Every other string
// (free text such as a role's description or an email template) may hold
// tabs and line breaks, and no other control character.
var credentialKeys = map[string]bool{
	"identifier": true, "username": true, "email": true,
	"password": true, "passwordConfirmation": true, "currentPassword": true,
	"code": true, "confirmation": true, "refreshToken": true, "deviceId": true,
}

// firstControl returns the first C0 control character (U+0000–U+001F) or
// DEL (U+007F) of s; unless strict, tab, line feed and carriage return are
// allowed.
func firstControl(s string, strict bool) (rune, bool) {
	for _, r := range s {
		if r == 0x7f || r < 0x20 && (strict || r != '\t' && r != '\n' && r != '\r') {
			return r, true
		}
	}
	return 0, false
}

// checkControlCharacters refuses a body with a control character in any
// string, keys included, at any depth: a NUL reaching PostgreSQL is an
// error there, and no field of Gatehouse's needs one. Each offending
// top-level field is one yup-style error, in key order.
func checkControlCharacters(b body) error {
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var v validator
	for _, key := range keys {
		if _, bad := firstControl(key, true); bad || holdsControl(b[key], credentialKeys[key]) {
			v.add(key, key+" must not contain control characters", nil)
		}
	}
	return v.err()
}

// holdsControl reports whether a string anywhere in the JSON value raw (an
// object's keys included) holds a control character.
func holdsControl(raw json.RawMessage, strict bool) bool {
	if bytes.IndexByte(raw, '\\') < 0 && bytes.IndexByte(raw, 0x7f) < 0 {
		// Raw control characters are malformed JSON, so without an escape
		// or a DEL there is nothing to find.
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false // the value was decoded once already: this is its end
		}
		if s, ok := tok.(string); ok {
			if _, bad := firstControl(s, strict); bad {
				return true
			}
		}
	}
}
