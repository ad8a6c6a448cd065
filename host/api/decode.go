package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// decodeStrict decodes a JSON object into v, rejecting unknown fields and
// trailing data. On failure it returns the field concerned (when known) and
// a message that names the problem and the fix in API terms, not Go's.
func decodeStrict(body []byte, v any) (field, msg string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		return "", "invalid JSON body: more than one JSON value: send exactly one object"
	}
	if err == nil {
		return "", ""
	}

	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var terr *time.ParseError
	switch {
	case errors.As(err, &syntax):
		return "", fmt.Sprintf("invalid JSON body: %v at byte %d: send one JSON object", syntax, syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "", "invalid JSON body: it ends early or is empty: send one complete JSON object"
	case errors.As(err, &typ) && typ.Field == "":
		return "", fmt.Sprintf("invalid JSON body: got a JSON %s: send one object such as {\"session\": \"...\", \"text\": \"...\"}", typ.Value)
	case errors.As(err, &typ):
		return typ.Field, fmt.Sprintf("field %q has the wrong type: got a JSON %s, want a %s", typ.Field, typ.Value, jsonKind(typ.Type.Kind().String()))
	case errors.As(err, &terr):
		return "time", fmt.Sprintf("field \"time\" = %q is not an RFC 3339 time such as \"2026-01-02T15:04:05Z\"", terr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return name, fmt.Sprintf("unknown field %q: the fields are session, id, sender, text, images, priority, time and reply_to", name)
	case strings.Contains(err.Error(), "base64"):
		return "images", "field \"images\": data is not valid base64: encode image bytes with standard base64"
	}
	return "", "invalid JSON body: " + err.Error()
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "slice", "array":
		return "list"
	case "struct", "map":
		return "object"
	case "bool":
		return "boolean"
	}
	return "number"
}
