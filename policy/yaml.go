package policy

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ParseDocumentYAML reads a policy document from YAML and validates it,
// with the same keys, values and rules as ParseDocument. The input must hold
// exactly one YAML document, a mapping; errors give the line.
//
//	version: 1
//	retry:
//	  max_attempts: 5
//	  base_delay: 500ms
func ParseDocumentYAML(data []byte) (Document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // no effect on a yaml.Node; decodeYAML checks keys itself
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if errors.Is(err, io.EOF) {
			return Document{}, errors.New("policy: empty document")
		}
		return Document{}, yamlError("", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Document{}, errors.New("policy: more than one yaml document")
	}
	if isYAMLNull(&n) {
		return Document{}, errors.New("policy: document is null, want a mapping")
	}
	var d Document
	if err := d.decodeYAML(&n); err != nil {
		return Document{}, err
	}
	if err := d.Validate(); err != nil {
		return Document{}, err
	}
	return d, nil
}

// MarshalYAML implements yaml.Marshaler, with the same form as MarshalJSON.
func (d Document) MarshalYAML() (any, error) { return d.wire() }

// UnmarshalYAML implements yaml.Unmarshaler. It decodes like
// ParseDocumentYAML, strictly (unknown keys are errors even when the outer
// decoder does not ask for KnownFields), but does not check bounds (call
// Validate). A YAML null leaves *d unchanged.
func (d *Document) UnmarshalYAML(n *yaml.Node) error { return d.decodeYAML(n) }

// MarshalYAML implements yaml.Marshaler, with the same form as MarshalJSON.
func (p RetryPolicy) MarshalYAML() (any, error) { return p.wire() }

// UnmarshalYAML implements yaml.Unmarshaler; see RetryPolicy.UnmarshalJSON.
func (p *RetryPolicy) UnmarshalYAML(n *yaml.Node) error {
	var w retryWire
	present, err := decodeYAMLSection(n, "retry", retryKeys, &w)
	if err != nil || isYAMLNull(n) {
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

// MarshalYAML implements yaml.Marshaler, with the same form as MarshalJSON.
func (b BreakerPolicy) MarshalYAML() (any, error) { return b.wire(), nil }

// UnmarshalYAML implements yaml.Unmarshaler; see RetryPolicy.UnmarshalJSON.
func (b *BreakerPolicy) UnmarshalYAML(n *yaml.Node) error {
	var w breakerWire
	present, err := decodeYAMLSection(n, "breaker", breakerKeys, &w)
	if err != nil || isYAMLNull(n) {
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

// MarshalYAML implements yaml.Marshaler, with the same form as MarshalJSON.
func (s SelectPolicy) MarshalYAML() (any, error) { return s.wire() }

// UnmarshalYAML implements yaml.Unmarshaler; see RetryPolicy.UnmarshalJSON.
func (s *SelectPolicy) UnmarshalYAML(n *yaml.Node) error {
	var w selectWire
	present, err := decodeYAMLSection(n, "select", selectKeys, &w)
	if err != nil || isYAMLNull(n) {
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

func (d *Document) decodeYAML(n *yaml.Node) error {
	n = resolveYAML(n)
	if isYAMLNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("policy: line %d: document must be a mapping", n.Line)
	}
	sections := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		sections[n.Content[i].Value] = n.Content[i+1]
	}
	var out Document
	if v, ok := sections["version"]; ok {
		if err := v.Decode(&out.Version); err != nil {
			return yamlError("version", err)
		}
		if err := checkVersion(out.Version); err != nil {
			return err
		}
	}
	if err := checkYAMLKeys(n, "", documentKeys); err != nil {
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
	if present[0], err = decodeYAMLSection(sections["retry"], "retry", retryKeys, &rw); err != nil {
		return err
	}
	if present[1], err = decodeYAMLSection(sections["breaker"], "breaker", breakerKeys, &bw); err != nil {
		return err
	}
	if present[2], err = decodeYAMLSection(sections["select"], "select", selectKeys, &sw); err != nil {
		return err
	}
	return out.fromWire(&rw, &bw, &sw, present, d)
}

// resolveYAML follows aliases and unwraps a document node.
func resolveYAML(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch {
		case n.Kind == yaml.AliasNode && n.Alias != nil:
			n = n.Alias
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		default:
			return n
		}
	}
	return nil
}

// isYAMLNull reports whether n is absent or a null scalar.
func isYAMLNull(n *yaml.Node) bool {
	n = resolveYAML(n)
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// decodeYAMLSection decodes one mapping into the wire struct v, checking
// its keys first: yaml.v3 forgets KnownFields inside custom unmarshalers.
// It returns the keys given a value other than null, for explicitZeros.
func decodeYAMLSection(n *yaml.Node, section string, known []string, v any) ([]string, error) {
	if isYAMLNull(n) {
		return nil, nil
	}
	n = resolveYAML(n)
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("policy: line %d: %s must be a mapping", n.Line, section)
	}
	if err := checkYAMLKeys(n, section, known); err != nil {
		return nil, err
	}
	if err := n.Decode(v); err != nil {
		return nil, yamlError(section, err)
	}
	var present []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !isYAMLNull(n.Content[i+1]) {
			present = append(present, n.Content[i].Value)
		}
	}
	return present, nil
}

// checkYAMLKeys returns an error naming the first key of mapping n that is
// not known or repeated, with its line.
func checkYAMLKeys(n *yaml.Node, section string, known []string) error {
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i]
		err := checkKeys(section, known, []string{k.Value})
		switch {
		case err != nil:
		case k.Kind != yaml.ScalarNode:
			err = fmt.Errorf("policy: %s: keys must be plain names", cmp.Or(section, "document"))
		case seen[k.Value]:
			err = fmt.Errorf("policy: %s: field %q given twice", cmp.Or(section, "document"), k.Value)
		}
		if err != nil {
			return fmt.Errorf("policy: line %d: %s", k.Line, strings.TrimPrefix(err.Error(), "policy: "))
		}
		seen[k.Value] = true
		field := strings.TrimPrefix(section+"."+k.Value, ".")
		if intKeys[field] {
			if err := checkYAMLInts(field, n.Content[i+1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkYAMLInts rejects a float where field wants an integer (or a list of
// them), which yaml.v3 would truncate.
func checkYAMLInts(field string, v *yaml.Node) error {
	v = resolveYAML(v)
	if v == nil {
		return nil
	}
	if v.Kind == yaml.SequenceNode {
		for _, e := range v.Content {
			if err := checkYAMLInts(field, e); err != nil {
				return err
			}
		}
		return nil
	}
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!float" {
		return fmt.Errorf("policy: line %d: %s: got %s, want an integer", v.Line, field, v.Value)
	}
	return nil
}

// yamlError turns a yaml.v3 error into one that starts with "policy: ".
func yamlError(section string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	if section == "" {
		return fmt.Errorf("policy: invalid yaml: %s", msg)
	}
	return fmt.Errorf("policy: %s: %s", section, msg)
}
