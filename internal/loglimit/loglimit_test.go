package loglimit

import (
	"strings"
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(10*time.Second, func() time.Time { return now })
	var got []string
	for i := range 25 {
		now = time.Unix(int64(i), 0) // one failure a second for 25 s
		for _, cause := range []string{"timeout", "unreachable"} {
			if ok, n := l.Allow(cause); ok {
				got = append(got, cause+"@"+now.Format("05")+"+"+string(rune('0'+n)))
			}
		}
	}
	want := "[timeout@00+0 unreachable@00+0 timeout@10+9 unreachable@10+9 timeout@20+9 unreachable@20+9]"
	if s := "[" + strings.Join(got, " ") + "]"; s != want {
		t.Errorf("lines let through = %s, want %s", s, want)
	}
}
