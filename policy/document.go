package policy

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Document is the versioned bundle of policies that the fleet shares. A
// change on one node reaches every node; the newest write wins. The zero
// Document means version 1 with every default. A Document is a plain value:
// safe to copy and to read from several goroutines (see RetryPolicy for its
// one slice).
//
// On the wire it is a JSON or YAML object with the keys version, retry,
// breaker and select; see ParseDocument.
type Document struct {
	Version int // schema version of the document (currently 1; 0 means 1)
	Retry   RetryPolicy
	Breaker BreakerPolicy
	Select  SelectPolicy
}

// DocumentVersion is the schema version this package reads and writes.
const DocumentVersion = 1

// WithDefaults returns a copy of d with Version set to DocumentVersion when
// zero and each policy filled by its own WithDefaults.
func (d Document) WithDefaults() Document {
	if d.Version == 0 {
		d.Version = DocumentVersion
	}
	d.Retry = d.Retry.WithDefaults()
	d.Breaker = d.Breaker.WithDefaults()
	d.Select = d.Select.WithDefaults()
	return d
}

// Validate checks the version (0 or 1) and the three policies, each with
// its defaults filled in. The error lists every problem, one per line.
func (d Document) Validate() error {
	if err := checkVersion(d.Version); err != nil {
		return err
	}
	var ps problems
	d.Retry.validate(&ps)
	d.Breaker.validate(&ps)
	d.Select.validate(&ps)
	return ps.err()
}

// ParseDocument reads a policy document from JSON and validates it. Keys
// are snake_case, durations are strings such as "1.5s", enums are names; a
// missing key or null means the default. An explicit 0 (or "0s") where zero
// would mean a default ("max_attempts": 0) is an error naming the field and
// its bound; where zero is a value of its own ("timeout": "0s", none) it is
// kept. The result keeps zero
// fields zero (call WithDefaults for the effective values) except Version,
// which reads as DocumentVersion when absent. Unknown keys, unknown
// versions, bad durations and out-of-range values are errors; so are input
// that is not exactly one JSON object and trailing data.
//
//	{"version": 1, "retry": {"max_attempts": 5, "base_delay": "500ms"}}
func ParseDocument(data []byte) (Document, error) {
	var d Document
	if err := d.decodeJSON(data); err != nil {
		return Document{}, err
	}
	if err := d.Validate(); err != nil {
		return Document{}, err
	}
	return d, nil
}

// MarshalJSON implements json.Marshaler. It always writes "version" (0 is
// written as 1) and leaves out zero fields and policies, so that
// ParseDocument reads back an equal Document. Enum values without a name are
// an error; bounds are not checked.
func (d Document) MarshalJSON() ([]byte, error) {
	w, err := d.wire()
	if err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

// UnmarshalJSON implements json.Unmarshaler. It decodes like ParseDocument,
// strictly, but does not check bounds (call Validate). JSON null leaves *d
// unchanged.
func (d *Document) UnmarshalJSON(data []byte) error {
	if isNull(data) {
		return nil
	}
	return d.decodeJSON(data)
}

func (d *Document) decodeJSON(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("policy: empty document")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return jsonError("", err)
	}
	if m == nil {
		return errors.New("policy: document is null, want an object")
	}
	var out Document
	if raw, ok := m["version"]; ok {
		if err := json.Unmarshal(raw, &out.Version); err != nil {
			return jsonError("version", err)
		}
		if err := checkVersion(out.Version); err != nil {
			return err
		}
	}
	if err := checkKeys("", documentKeys, mapKeys(m)); err != nil {
		return err
	}
	var (
		rw retryWire
		bw breakerWire
		sw selectWire
	)
	var (
		present [3][]string // of retry, breaker and select
		err     error
	)
	if present[0], err = decodeJSONSection(m["retry"], "retry", retryKeys, &rw); err != nil {
		return err
	}
	if present[1], err = decodeJSONSection(m["breaker"], "breaker", breakerKeys, &bw); err != nil {
		return err
	}
	if present[2], err = decodeJSONSection(m["select"], "select", selectKeys, &sw); err != nil {
		return err
	}
	return out.fromWire(&rw, &bw, &sw, present, d)
}

// fromWire converts the decoded sections and, when all of them are good,
// stores the result in *dst with Version 0 read as DocumentVersion. present
// holds the keys given (not null) in each section, for explicitZeros.
func (d Document) fromWire(rw *retryWire, bw *breakerWire, sw *selectWire, present [3][]string, dst *Document) error {
	var errs []error
	var err error
	if d.Retry, err = rw.policy(); err == nil {
		err = explicitZeros("retry", present[0], rw, d.Retry)
	}
	if err != nil {
		errs = append(errs, err)
	}
	if d.Breaker, err = bw.policy(); err == nil {
		err = explicitZeros("breaker", present[1], bw, d.Breaker)
	}
	if err != nil {
		errs = append(errs, err)
	}
	if d.Select, err = sw.policy(); err == nil {
		err = explicitZeros("select", present[2], sw, d.Select)
	}
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if d.Version == 0 {
		d.Version = DocumentVersion
	}
	*dst = d
	return nil
}
