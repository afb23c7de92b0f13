package tikverr

import (
	"errors"
	"strings"
)

func isA[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// compact trims the trailing space of gogo's compact text form.
func compact(s string) string { return strings.TrimSpace(s) }
