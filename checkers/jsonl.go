package checkers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
)

// jsonOp is the wire form of an Op; see docs/history.md.
type jsonOp struct {
	Index   int64           `json:"index"`
	Time    int64           `json:"time"`
	Process int             `json:"process"`
	Type    Type            `json:"type"`
	F       string          `json:"f"`
	Key     string          `json:"key,omitempty"`
	Value   json.RawMessage `json:"value"`
	Error   string          `json:"error,omitempty"`
}

// MarshalJSON encodes the op as one JSON object (see docs/history.md).
func (o Op) MarshalJSON() ([]byte, error) {
	v, err := marshalValue(o.F, o.Value)
	if err != nil {
		return nil, fmt.Errorf("op %d: %w", o.Index, err)
	}
	return json.Marshal(jsonOp{Index: o.Index, Time: o.Time, Process: o.Process, Type: o.Type, F: o.F, Key: o.Key, Value: v, Error: o.Error})
}

// UnmarshalJSON decodes one JSON object into the op, normalizing Value to the
// types listed on Op.
func (o *Op) UnmarshalJSON(b []byte) error {
	var j jsonOp
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if !j.Type.Valid() {
		return fmt.Errorf("op %d: unknown type %q", j.Index, j.Type)
	}
	v, err := unmarshalValue(j.F, j.Value)
	if err != nil {
		return fmt.Errorf("op %d: %w", j.Index, err)
	}
	*o = Op{Index: j.Index, Time: j.Time, Process: j.Process, Type: j.Type, F: j.F, Key: j.Key, Value: v, Error: j.Error}
	return nil
}

// MarshalJSON encodes the mop as [f, key, value].
func (m Mop) MarshalJSON() ([]byte, error) {
	switch m.Value.(type) {
	case nil, int64, []int64:
	default:
		return nil, fmt.Errorf("mop %s %s: value of type %T, want nil, int64 or []int64", m.F, m.Key, m.Value)
	}
	return json.Marshal([]any{m.F, m.Key, m.Value})
}

// UnmarshalJSON decodes [f, key, value]. A numeric key is accepted and kept
// in its decimal form.
func (m *Mop) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("mop: %w", err)
	}
	if len(raw) != 3 {
		return fmt.Errorf("mop %s: want [f, key, value]", b)
	}
	var f string
	if err := json.Unmarshal(raw[0], &f); err != nil {
		return fmt.Errorf("mop %s: f: %w", b, err)
	}
	key, err := decodeKey(raw[1])
	if err != nil {
		return fmt.Errorf("mop %s: %w", b, err)
	}
	var v any
	if !bytes.Equal(bytes.TrimSpace(raw[2]), []byte("null")) {
		switch t := bytes.TrimSpace(raw[2]); {
		case len(t) > 0 && t[0] == '[':
			var l []int64
			if err := json.Unmarshal(t, &l); err != nil {
				return fmt.Errorf("mop %s: value: %w", b, err)
			}
			if l == nil {
				l = []int64{}
			}
			v = l
		default:
			var n int64
			if err := json.Unmarshal(t, &n); err != nil {
				return fmt.Errorf("mop %s: value: %w", b, err)
			}
			v = n
		}
	}
	*m = Mop{F: f, Key: key, Value: v}
	return nil
}

func decodeKey(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("key %s: want a string or a number", raw)
	}
	return n.String(), nil
}

func marshalValue(f string, v any) (json.RawMessage, error) {
	if f == FTxn {
		switch v.(type) {
		case []Mop, nil:
		default:
			return nil, fmt.Errorf("txn value of type %T, want []Mop", v)
		}
	}
	return json.Marshal(v)
}

func unmarshalValue(f string, raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	if f == FTxn {
		var mops []Mop
		if err := json.Unmarshal(raw, &mops); err != nil {
			return nil, err
		}
		if mops == nil {
			mops = []Mop{}
		}
		return mops, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return normalize(v), nil
}

// normalize turns json.Number into int64 (or float64 for non-integers).
func normalize(v any) any {
	switch t := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return n
		}
		f, _ := t.Float64()
		return f
	case []any:
		for i := range t {
			t[i] = normalize(t[i])
		}
		return t
	case map[string]any:
		for k := range t {
			t[k] = normalize(t[k])
		}
		return t
	}
	return v
}

// FormatValue renders a value as canonical JSON (map keys sorted); values
// that cannot be encoded are rendered with %v.
func FormatValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

// AsInt converts a decoded numeric value (int64, int, or an integral float64)
// to int64.
func AsInt(v any) (int64, bool) {
	switch t := v.(type) {
	case int64:
		return t, true
	case int:
		return int64(t), true
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int64(t), true
		}
	}
	return 0, false
}

// maxLine bounds one JSONL line; a transaction with a long read can be large.
const maxLine = 64 << 20

// ReadJSONL reads a history: one JSON object per line, blank lines ignored.
// Errors name the offending line.
func ReadJSONL(r io.Reader) (History, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var h History
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var op Op
		if err := json.Unmarshal(b, &op); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		h = append(h, op)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return h, nil
}

// WriteJSONL writes h, one JSON object per line.
func WriteJSONL(w io.Writer, h History) error {
	bw := bufio.NewWriter(w)
	for _, op := range h {
		b, err := json.Marshal(op)
		if err != nil {
			return err
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
