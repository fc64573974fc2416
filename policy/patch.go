package policy

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Patch returns d with a partial document applied, validated as a whole.
// The patch is a JSON object in the form of ParseDocument that follows JSON
// merge patch (RFC 7386): only the keys present change, nested objects
// merge, arrays (retry_status) are replaced, and null resets a field or a
// whole policy to its default. Unknown keys are errors.
//
//	doc, err = doc.Patch([]byte(`{"retry": {"max_attempts": 5, "jitter": null}}`))
//
// On error Patch returns d unchanged and the error; d itself is never
// modified. Patch does not require d to be valid, only that its enums have
// names.
func (d Document) Patch(data []byte) (Document, error) {
	cur, err := d.MarshalJSON()
	if err != nil {
		return d, err
	}
	merged, err := mergeJSON(cur, data)
	if err != nil {
		return d, err
	}
	out, err := ParseDocument(merged)
	if err != nil {
		return d, err
	}
	return out, nil
}

// Patch returns p with a partial retry policy applied, validated; the patch
// is a JSON object in the form of the "retry" section of ParseDocument, with
// the merge rules of Document.Patch. On error it returns p unchanged.
func (p RetryPolicy) Patch(data []byte) (RetryPolicy, error) {
	cur, err := p.MarshalJSON()
	if err != nil {
		return p, err
	}
	merged, err := mergeJSON(cur, data)
	if err != nil {
		return p, err
	}
	var out RetryPolicy
	if err := out.UnmarshalJSON(merged); err != nil {
		return p, err
	}
	if err := out.Validate(); err != nil {
		return p, err
	}
	return out, nil
}

// mergeJSON applies the merge patch to the JSON object target. Numbers are
// kept as written, so nothing is lost to float64.
func mergeJSON(target, patch []byte) ([]byte, error) {
	p, err := decodeAny(patch)
	if err != nil {
		return nil, err
	}
	pm, ok := p.(map[string]any)
	if !ok {
		return nil, errors.New("policy: patch must be a JSON object")
	}
	t, err := decodeAny(target)
	if err != nil {
		return nil, err
	}
	return json.Marshal(mergePatch(t, pm))
}

func decodeAny(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError("", err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return nil, errors.New("policy: invalid json: data after the top-level value")
	}
	return v, nil
}

// mergePatch is RFC 7386's MergePatch.
func mergePatch(target any, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], v)
	}
	return tm
}
