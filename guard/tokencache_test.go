package guard

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

func TestVerifiedTokensBounded(t *testing.T) {
	v := newVerifiedTokens()
	exp := time.Now().Add(time.Hour)
	for i := range verifiedTokensMax + 10 {
		v.put(sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), verifiedToken{userID: 1, expires: exp})
	}
	if n := len(v.tokens); n > verifiedTokensMax {
		t.Errorf("cache holds %d entries, want at most %d", n, verifiedTokensMax)
	}
	if _, ok := v.get(sha256.Sum256([]byte("absent")), time.Now()); ok {
		t.Error("get of an absent key: found")
	}
}

// TestBearerTokenFastPath: the allocation-free path of BearerToken answers
// exactly as Strapi's split on whitespace.
func TestBearerTokenFastPath(t *testing.T) {
	reference := func(header string) (string, bool) {
		parts := strings.Fields(header)
		if len(parts) != 2 || !strings.EqualFold(parts[0], "bearer") {
			return "", false
		}
		return parts[1], true
	}
	for _, h := range []string{
		"", "Bearer", "Bearer ", "Bearer  ", "Bearer a", "bearer a.b.c", "BEARER a", "Bearer  a", " Bearer a", "Bearer a ",
		"Bearer a b", "Bearer a\tb", "Bearer\ta", "Bearer a\u00a0b", "Bearer a\u0085", "Bearer a\u2003b", "Bearer é",
		"Basic a", "Bearerx a", "Bearer\u00a0a", "Bearer a\x00", "Bearer a\vb", "Bearer \xff",
	} {
		gotTok, gotOK := BearerToken(h)
		wantTok, wantOK := reference(h)
		if gotTok != wantTok || gotOK != wantOK {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", h, gotTok, gotOK, wantTok, wantOK)
		}
	}
}
