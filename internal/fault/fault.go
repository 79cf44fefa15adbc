package fault

import "errors"

// Class is the class of a failure.
type Class uint8

// The classes, in the order Classify gives them precedence (Held first).
const (
	Unknown Class = iota
	Transient
	Permanent
	Held
)

func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case Held:
		return "held"
	default:
		return "unknown"
	}
}

// Markers wrapped by the errors of each class; test with errors.Is or,
// better, with Classify.
var (
	ErrTransient = errors.New("transient")
	ErrPermanent = errors.New("permanent")
	ErrHeld      = errors.New("held")
)

// Classifier is implemented by errors that know their class. Classify asks
// the first one in the error's chain; Unknown lets it look further.
type Classifier interface {
	FaultClass() Class
}

// MarkTransient marks err as transient. It returns nil for nil.
func MarkTransient(err error) error { return mark(ErrTransient, err) }

// MarkPermanent marks err as permanent. It returns nil for nil.
func MarkPermanent(err error) error { return mark(ErrPermanent, err) }

func mark(marker, err error) error {
	if err == nil {
		return nil
	}
	return &marked{marker: marker, err: err}
}

// marked keeps err's message unchanged: the class is for callers, not for
// the reader of the log.
type marked struct {
	marker error
	err    error
}

func (e *marked) Error() string   { return e.err.Error() }
func (e *marked) Unwrap() []error { return []error{e.marker, e.err} }

// Hold marks err as held for an operator, for reason (a short, value-free
// sentence such as "shipment held after a permanent failure"). The message
// is "reason: err". It returns nil for nil.
func Hold(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &HeldError{Reason: reason, Err: err}
}

// HeldError is an error held for an operator, with the reason.
type HeldError struct {
	Reason string
	Err    error
}

func (e *HeldError) Error() string   { return e.Reason + ": " + e.Err.Error() }
func (e *HeldError) Unwrap() []error { return []error{ErrHeld, e.Err} }

// HeldReason returns the reason of the first HeldError in err's chain.
func HeldReason(err error) (string, bool) {
	var he *HeldError
	if errors.As(err, &he) {
		return he.Reason, true
	}
	return "", false
}

// Classify returns err's class: Held if anything in its chain is held,
// then Permanent before Transient for markers, then the first Classifier
// with an opinion; otherwise Unknown. Network failures that nobody
// classified are netfault.Classify's.
func Classify(err error) Class {
	if err == nil {
		return Unknown
	}
	switch {
	case errors.Is(err, ErrHeld):
		return Held
	case errors.Is(err, ErrPermanent):
		return Permanent
	case errors.Is(err, ErrTransient):
		return Transient
	}
	return classifierOf(err)
}

// classifierOf walks err's tree depth-first and returns the first class a
// Classifier gives other than Unknown.
func classifierOf(err error) Class {
	for err != nil {
		if c, ok := err.(Classifier); ok {
			if k := c.FaultClass(); k != Unknown {
				return k
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if k := classifierOf(e); k != Unknown {
					return k
				}
			}
			return Unknown
		default:
			return Unknown
		}
	}
	return Unknown
}

// IsTransient reports whether Classify(err) is Transient.
func IsTransient(err error) bool { return Classify(err) == Transient }

// IsPermanent reports whether Classify(err) is Permanent.
func IsPermanent(err error) bool { return Classify(err) == Permanent }

// IsHeld reports whether Classify(err) is Held.
func IsHeld(err error) bool { return Classify(err) == Held }
