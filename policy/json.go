package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// MarshalJSON implements json.Marshaler: snake_case keys, durations as
// strings, enums as names, zero fields left out.
func (p RetryPolicy) MarshalJSON() ([]byte, error) {
	w, err := p.wire()
	if err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

// UnmarshalJSON implements json.Unmarshaler. It replaces *p with the policy
// in data; absent and null fields are zero (the defaults). Unknown fields,
// bad durations, unknown enum names and an explicit zero where zero would
// mean a default (see ParseDocument) are errors; other bounds are not
// checked (call Validate). JSON null leaves *p unchanged.
func (p *RetryPolicy) UnmarshalJSON(data []byte) error {
	var w retryWire
	present, err := decodeJSONSection(data, "retry", retryKeys, &w)
	if err != nil || isNull(data) {
		return err
	}
	v, err := w.policy()
	if err != nil {
		return err
	}
	if err := explicitZeros("retry", present, &w, v); err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalJSON implements json.Marshaler; see RetryPolicy.MarshalJSON.
func (b BreakerPolicy) MarshalJSON() ([]byte, error) { return json.Marshal(b.wire()) }

// UnmarshalJSON implements json.Unmarshaler; see RetryPolicy.UnmarshalJSON.
func (b *BreakerPolicy) UnmarshalJSON(data []byte) error {
	var w breakerWire
	present, err := decodeJSONSection(data, "breaker", breakerKeys, &w)
	if err != nil || isNull(data) {
		return err
	}
	v, err := w.policy()
	if err != nil {
		return err
	}
	if err := explicitZeros("breaker", present, &w, v); err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalJSON implements json.Marshaler; see RetryPolicy.MarshalJSON.
func (s SelectPolicy) MarshalJSON() ([]byte, error) {
	w, err := s.wire()
	if err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

// UnmarshalJSON implements json.Unmarshaler; see RetryPolicy.UnmarshalJSON.
func (s *SelectPolicy) UnmarshalJSON(data []byte) error {
	var w selectWire
	present, err := decodeJSONSection(data, "select", selectKeys, &w)
	if err != nil || isNull(data) {
		return err
	}
	v, err := w.policy()
	if err != nil {
		return err
	}
	if err := explicitZeros("select", present, &w, v); err != nil {
		return err
	}
	*s = v
	return nil
}

// isNull reports whether data is the JSON literal null.
func isNull(data []byte) bool { return string(bytes.TrimSpace(data)) == "null" }

// decodeJSONSection decodes one JSON object into the wire struct v: keys
// must be exactly those of known (case-sensitive, unlike encoding/json's
// default), and the values must have the right types. null decodes to
// nothing, and so does no data at all (an absent section). It returns the
// keys given a value other than null, sorted, for explicitZeros.
func decodeJSONSection(data []byte, section string, known []string, v any) ([]string, error) {
	if len(data) == 0 || isNull(data) {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, jsonError(section, err)
	}
	if err := checkKeys(section, known, mapKeys(m)); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, jsonError(section, err)
	}
	var present []string
	for _, k := range mapKeys(m) {
		if !isNull(m[k]) {
			present = append(present, k)
		}
	}
	return present, nil
}

// checkKeys returns an error naming the first of keys (in order) that is not
// known.
func checkKeys(section string, known, keys []string) error {
	for _, k := range keys {
		if !slices.Contains(known, k) {
			return unknownField(section, k, known)
		}
	}
	return nil
}

func unknownField(section, key string, known []string) error {
	where := "document"
	if section != "" {
		where = section
	}
	return fmt.Errorf("policy: unknown field %q in %s (valid: %s)", key, where, strings.Join(known, ", "))
}

func mapKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var durationType = reflect.TypeFor[durationText]()

// jsonError turns an encoding/json error into one that starts with
// "policy: " and names the field in wire terms.
func jsonError(section string, err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("policy: invalid json at byte %d: %s", syn.Offset, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("policy: invalid json: unexpected end of input")
	case errors.As(err, &typ):
		field := section
		if typ.Field != "" {
			field = strings.Trim(section+"."+typ.Field, ".")
		}
		want := typ.Type.String()
		switch {
		case typ.Type == durationType:
			want = `a duration string such as "1.5s"`
		case typ.Type.Kind() == reflect.Map || typ.Type.Kind() == reflect.Struct:
			want = "an object"
		case typ.Type.Kind() == reflect.Slice:
			want = "an array"
		case typ.Type.Kind() == reflect.Float64:
			want = "a number"
		}
		if field == "" {
			field = "document"
		}
		return fmt.Errorf("policy: %s: got %s, want %s", field, typ.Value, want)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if section == "" {
		return fmt.Errorf("policy: %s", msg)
	}
	return fmt.Errorf("policy: %s: %s", section, msg)
}
