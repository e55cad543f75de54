package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body of at most 64 KiB into v, strictly: unknown
// fields and wrong types are field errors.
func decode(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeBytes(b, v)
}

// readBody reads a JSON body of at most 64 KiB.
func readBody(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return nil, errorf(http.StatusUnsupportedMediaType, "send the body as application/json")
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 64<<10))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, errorf(http.StatusRequestEntityTooLarge, "the body is too large")
	case err != nil:
		return nil, errorf(http.StatusBadRequest, "could not read the body: %v", err)
	}
	return b, nil
}

// decodeBytes decodes the JSON object b into v, strictly: unknown fields and
// wrong types are field errors. Fields b leaves out keep v's values.
func decodeBytes(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var (
		te *json.UnmarshalTypeError
		se *json.SyntaxError
	)
	switch {
	case errors.As(err, &te) && te.Field != "":
		return &Error{Status: http.StatusBadRequest, Message: "invalid settings",
			Fields: map[string]string{te.Field: "must be " + kindName(te.Type)}}
	case errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "the body is not valid JSON: %v", err)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &Error{Status: http.StatusBadRequest, Message: "invalid settings",
			Fields: map[string]string{strings.Trim(f, `"`): "unknown field"}}
	}
	return errorf(http.StatusBadRequest, "could not read the body: %v", err)
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// kindName says in words what JSON a Go type takes.
func kindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}
