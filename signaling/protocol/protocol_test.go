package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	frame, err := Encode(TypeChat, "r1", ChatSend{Channel: "group", Body: "hi, \"you\"\n😀", ClientMsgID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	env, err := Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeBody(env)
	if err != nil {
		t.Fatal(err)
	}
	cs, ok := b.(*ChatSend)
	if !ok || cs.Body != "hi, \"you\"\n😀" || env.Ref != "r1" {
		t.Fatalf("got %#v %#v", env, b)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		frame string
		want  error
	}{
		{`nope`, ErrMalformed},
		{`{"v":1}`, ErrMalformed},
		{`{"v":2,"type":"join"}`, ErrVersion},
		{`{"type":"join"}`, ErrVersion},
		{`[]`, ErrMalformed},
	}
	for _, tc := range tests {
		if _, err := Decode([]byte(tc.frame)); !errors.Is(err, tc.want) {
			t.Errorf("Decode(%s) = %v, want %v", tc.frame, err, tc.want)
		}
	}
	if _, err := DecodeBody(Envelope{V: 1, Type: "teleport"}); !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := DecodeBody(Envelope{V: 1, Type: TypeJoin, Data: json.RawMessage(`{"room":1}`)}); !errors.Is(err, ErrMalformed) {
		t.Errorf("wrong field type: %v", err)
	}
}

// FuzzDecode: no input makes the decoder panic, and whatever it accepts
// encodes back to an envelope that decodes to the same body.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"v":1,"type":"join","ref":"j","data":{"room":"lab","seat":"ws-01","pseudonym":"Kim"}}`,
		`{"v":1,"type":"chat","data":{"channel":"group","body":"hi","client_msg_id":"c1"}}`,
		`{"v":1,"type":"signal","data":{"to":"p_x","kind":"candidate","candidate":{"candidate":"a"}}}`,
		`{"v":1,"type":"stats","data":{"rtt_ms":1.5}}`,
		`{"v":1,"type":"leave"}`,
		`{"v":1,"type":"join","data":null}`,
		`{"v":1,"type":"chat","data":"str"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		env, err := Decode(frame)
		if err != nil {
			return
		}
		body, err := DecodeBody(env)
		if err != nil {
			return
		}
		again, err := Encode(env.Type, env.Ref, body)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		env2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-decode %s: %v", again, err)
		}
		body2, err := DecodeBody(env2)
		if err != nil {
			t.Fatalf("re-decode body %s: %v", again, err)
		}
		a, _ := json.Marshal(body)
		b, _ := json.Marshal(body2)
		if string(a) != string(b) {
			t.Fatalf("round trip changed the body: %s -> %s", a, b)
		}
	})
}

// FuzzCheckUTF8: a chat body holding any bytes is accepted exactly when
// they are valid UTF-8, and refused naming data.body otherwise; CheckUTF8
// never panics on any frame.
func FuzzCheckUTF8(f *testing.F) {
	f.Add([]byte("plain"), []byte(`{"a":[1,"x"]}`))
	f.Add([]byte("caf\xe9"), []byte(`{"\u00e9":"\ud800"}`))
	f.Add([]byte("👩‍🔬"), []byte(`[`))
	f.Fuzz(func(t *testing.T, body, frame []byte) {
		CheckUTF8(frame) // any input: no panic
		var b strings.Builder
		for _, c := range body {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20:
				b.WriteByte(' ') // JSON forbids raw control characters
			default:
				b.WriteByte(c)
			}
		}
		msg := `{"v":1,"type":"chat","data":{"channel":"group","body":"` + b.String() + `"}}`
		err := CheckUTF8([]byte(msg))
		if utf8.Valid(body) != (err == nil) {
			t.Fatalf("body %q (valid UTF-8: %v): CheckUTF8 = %v", body, utf8.Valid(body), err)
		}
		if err != nil && ErrorField(err) != "data.body" {
			t.Fatalf("error names %q, want data.body", ErrorField(err))
		}
	})
}
