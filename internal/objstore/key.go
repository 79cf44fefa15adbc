package objstore

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is the longest key accepted, in bytes (the S3 limit).
const MaxKeyLen = 1024

// ReservedPrefix starts no key segment: backends may use names beginning with
// it for their own bookkeeping (the fs backend keeps temporary files and
// metadata under it).
const ReservedPrefix = ".objstore"

// ValidateKey checks that key is a relative '/'-separated path every backend
// can store without ambiguity or traversal: 1 to MaxKeyLen bytes of UTF-8,
// no leading or trailing '/', no empty, "." or ".." segments, no backslash
// or control characters, and no segment beginning with ReservedPrefix. The
// error wraps ErrInvalid.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key longer than %d bytes", ErrInvalid, MaxKeyLen)
	}
	if err := checkChars(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := checkSegment(seg); err != nil {
			return fmt.Errorf("%w: key %q: %s", ErrInvalid, key, err)
		}
	}
	return nil
}

// ValidatePrefix checks a List prefix: empty, or the beginning of a valid key
// (complete segments follow the ValidateKey rules; the last, possibly
// partial, segment may be anything but may not contain forbidden
// characters).
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > MaxKeyLen {
		return fmt.Errorf("%w: prefix longer than %d bytes", ErrInvalid, MaxKeyLen)
	}
	if err := checkChars(prefix); err != nil {
		return err
	}
	segs := strings.Split(prefix, "/")
	for _, seg := range segs[:len(segs)-1] {
		if err := checkSegment(seg); err != nil {
			return fmt.Errorf("%w: prefix %q: %s", ErrInvalid, prefix, err)
		}
	}
	return nil
}

func checkChars(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: key is not valid UTF-8", ErrInvalid)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("%w: key %q contains a control character or backslash", ErrInvalid, s)
		}
	}
	return nil
}

func checkSegment(seg string) error {
	switch {
	case seg == "":
		return fmt.Errorf("empty segment (leading, trailing or double '/')")
	case seg == "." || seg == "..":
		return fmt.Errorf("%q segment", seg)
	case strings.HasPrefix(seg, ReservedPrefix):
		return fmt.Errorf("segment begins with reserved %q", ReservedPrefix)
	}
	return nil
}
