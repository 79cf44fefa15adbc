package phicorpus

import (
	"fmt"
	"testing"
)

// TestMatcher: every occurrence, ASCII case-insensitive, overlapping, by
// end offset, with the pattern's index.
func TestMatcher(t *testing.T) {
	m := NewMatcher([][]byte{[]byte("abc"), []byte("BC"), []byte("\xe9t\xe9")})
	var got []string
	m.Find([]byte("xAbC-abc \xe9T\xe9 \xc9t\xe9"), func(pat, start, end int) {
		got = append(got, fmt.Sprint(pat, start, end))
	})
	want := "[0 1 4 1 2 4 0 5 8 1 6 8 2 9 12]"
	if fmt.Sprint(got) != want {
		t.Errorf("matches %v, want %s", got, want)
	}
}

// TestJSONStrings: keys before their values, an object's keys in order;
// not JSON is false.
func TestJSONStrings(t *testing.T) {
	s, ok := JSONStrings(`{"b":["x",1,{"d":"y"}],"a":"\u001b$B"}`)
	if want := "a\n\x1b$B\nb\nx\nd\ny\n"; !ok || s != want {
		t.Errorf("JSONStrings = %q, %v; want %q", s, ok, want)
	}
	if s, ok := JSONStrings("level=info"); ok || s != "" {
		t.Errorf("JSONStrings of text = %q, %v", s, ok)
	}
}
