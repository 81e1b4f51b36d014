package protocol

// check.go: the checks every side applies to what a kiosk sends (valid
// UTF-8 everywhere, a chat body's limits), which refusals are final, and
// error texts in the protocol's words rather than Go's.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrBadText is returned for a frame holding a string that is not valid
// UTF-8 (or a JSON escape of a lone surrogate): decoding would silently
// replace it, so the stored text would not be what was sent.
var ErrBadText = errors.New("text is not valid UTF-8")

// FieldError is a decode error that names the field at fault ("data.body").
type FieldError struct {
	Field string
	Err   error // ErrMalformed or ErrBadText
	Text  string
}

func (e *FieldError) Error() string { return e.Text }
func (e *FieldError) Unwrap() error { return e.Err }

// ErrorField returns the field a decode error names, or "".
func ErrorField(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

// maxCheckDepth bounds the nesting CheckUTF8 follows; deeper input is
// malformed for this protocol anyway (no body nests more than three levels).
const maxCheckDepth = 16

// CheckUTF8 reports the first string (key or value) in a JSON frame that is
// not valid UTF-8, naming its field as a dotted path.
func CheckUTF8(frame []byte) error {
	if utf8.Valid(frame) && !bytes.Contains(frame, []byte(`\u`)) {
		return nil // the common case: nothing that could decode to U+FFFD unasked
	}
	return checkValue(json.RawMessage(frame), "", 0)
}

func checkValue(raw json.RawMessage, path string, depth int) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || depth > maxCheckDepth {
		return nil
	}
	switch raw[0] {
	case '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil // the decoder reports the syntax error
		}
		// Keys are checked from the raw text: map keys are already decoded.
		if err := checkKeys(raw, path); err != nil {
			return err
		}
		for k, v := range obj {
			if err := checkValue(v, join(path, k), depth+1); err != nil {
				return err
			}
		}
	case '[':
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) != nil {
			return nil
		}
		for i, v := range arr {
			if err := checkValue(v, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
	case '"':
		if !validJSONString(raw) {
			field := path
			if field == "" {
				field = "(frame)"
			}
			return &FieldError{Field: path, Err: ErrBadText,
				Text: fmt.Sprintf("field %q is not valid UTF-8 text; nothing was stored", field)}
		}
	}
	return nil
}

// checkKeys finds an object key with bytes that are not valid UTF-8.
func checkKeys(raw json.RawMessage, path string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.Token() // {
	for dec.More() {
		start := dec.InputOffset()
		if _, err := dec.Token(); err != nil {
			return nil
		}
		key := bytes.TrimLeft(raw[start:dec.InputOffset()], " \t\r\n,")
		if !validJSONString(key) {
			return &FieldError{Field: path, Err: ErrBadText,
				Text: fmt.Sprintf("a field name in %q is not valid UTF-8 text", orFrame(path))}
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return nil
		}
	}
	return nil
}

func orFrame(path string) string {
	if path == "" {
		return "(frame)"
	}
	return path
}

// validJSONString reports whether a quoted JSON string decodes without
// replacement: valid UTF-8 bytes and no escaped lone surrogate.
func validJSONString(q []byte) bool {
	if !utf8.Valid(q) {
		return false
	}
	var s string
	if json.Unmarshal(q, &s) != nil {
		return true // not a string after all; the decoder reports it
	}
	// Every U+FFFD in the decoded text must have been sent as one.
	want := strings.Count(s, "\uFFFD")
	if want == 0 {
		return true
	}
	sent := bytes.Count(q, []byte("\uFFFD")) + bytes.Count(bytes.ToLower(q), []byte(`\ufffd`))
	return sent >= want
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// DescribeJSONError is describeJSONError for other decoders of JSON sent
// to the server (the experimenter API): prefix names the enclosing field
// ("settings."), or is empty.
func DescribeJSONError(err error, prefix string) string { return describeJSONError(err, prefix) }

// describeJSONError turns encoding/json's error into a sentence that names
// the field and what was expected, in the protocol's words.
func describeJSONError(err error, prefix string) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return fmt.Sprintf("the message must be a JSON object, not a %s", te.Value)
		}
		if prefix != "" && !strings.HasPrefix(field, "data.") {
			field = prefix + field
		}
		return fmt.Sprintf("field %q must be %s, not %s", field, kindName(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("the message is not valid JSON (at byte %d)", se.Offset)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if prefix != "" {
			f = strconv.Quote(prefix + strings.Trim(f, `"`))
		}
		return fmt.Sprintf("field %s is not known", f)
	}
	if strings.Contains(err.Error(), "unexpected end of JSON") || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the message is not valid JSON (it ends too early)"
	}
	return "the message is not valid JSON"
}

func kindName(k string) string {
	switch k {
	case "int", "int64", "int32", "uint", "uint16", "uint32", "uint64":
		return "a whole number"
	case "float64", "float32":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "a list"
	}
	return "of another type"
}

// Chat body problems, for CheckChatBody.
var (
	// ErrEmptyBody: nothing but white space.
	ErrEmptyBody = errors.New("the message is empty")
	// ErrBodyTooLong: over the session's limit.
	ErrBodyTooLong = errors.New("the message is too long")
)

// CheckChatBody checks a chat body against a limit in characters (runes):
// valid UTF-8, not blank, not too long. The server, the experimenter API
// and the kiosk all use it, so a kiosk refuses early exactly what the
// server would.
func CheckChatBody(body string, maxRunes int) (code string, err error) {
	if !utf8.ValidString(body) {
		return CodeBadField, fmt.Errorf("%w: the message is not valid UTF-8 text", ErrBadText)
	}
	if strings.TrimSpace(body) == "" {
		return CodeEmpty, ErrEmptyBody
	}
	if n := utf8.RuneCountInString(body); maxRunes > 0 && n > maxRunes {
		return CodeTooLong, fmt.Errorf("%w: it has %d characters; at most %d are allowed", ErrBodyTooLong, n, maxRunes)
	}
	return "", nil
}

// Retryable reports whether a refusal with this code may succeed if the
// same message is sent again later (after a wait or a reconnect). A kiosk
// keeps such a message in its outbox; any other refusal is final and shown.
func Retryable(code string) bool {
	switch code {
	case CodeRateLimited, CodeInternal, CodeNotJoined, CodeReplaced:
		return true
	}
	return false
}
