//go:build !invariants

package invariants

// Enabled reports whether assertions are compiled in (build tag `invariants`).
const Enabled = false
