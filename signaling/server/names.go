package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parley-lab/parley/signaling/protocol"
)

// Errors for names a participant or kiosk supplies.
var (
	// ErrBadPseudonym: empty, too long, or holding forbidden characters.
	ErrBadPseudonym = errors.New("pseudonym not accepted")
	// ErrBadSeat: seat label empty, too long, or holding forbidden characters.
	ErrBadSeat = errors.New("seat label not accepted")
)

// bidiControls are the characters that reorder text (Trojan Source): a
// pseudonym holding one could display as something else.
func isBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F || r == 0x061C
}

// CheckPseudonym trims a typed pseudonym and checks it: 1 to 32 printable
// characters, no control, format or bidirectional-override characters.
func CheckPseudonym(s string) (string, error) {
	return checkLabel(s, protocol.MaxPseudonymRunes, ErrBadPseudonym, "pseudonym")
}

// CheckSeat checks a seat label like a pseudonym, with a longer limit.
func CheckSeat(s string) (string, error) {
	return checkLabel(s, protocol.MaxSeatRunes, ErrBadSeat, "seat label")
}

func checkLabel(s string, max int, sentinel error, what string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: the %s is not valid UTF-8 text", sentinel, what)
	}
	t := strings.TrimSpace(s)
	n := utf8.RuneCountInString(t)
	if n == 0 {
		return "", fmt.Errorf("%w: the %s is empty", sentinel, what)
	}
	if n > max {
		return "", fmt.Errorf("%w: the %s has %d characters; at most %d are allowed", sentinel, what, n, max)
	}
	for _, r := range t {
		switch {
		case isBidiControl(r):
			return "", fmt.Errorf("%w: the %s contains a text-direction control character (U+%04X)", sentinel, what, r)
		case unicode.IsControl(r):
			return "", fmt.Errorf("%w: the %s contains a control character (U+%04X)", sentinel, what, r)
		case unicode.Is(unicode.Cf, r):
			return "", fmt.Errorf("%w: the %s contains an invisible formatting character (U+%04X)", sentinel, what, r)
		case !unicode.IsPrint(r) && r != ' ':
			return "", fmt.Errorf("%w: the %s contains a character that cannot be displayed (U+%04X)", sentinel, what, r)
		}
	}
	return t, nil
}

// Words for assigned pseudonyms: neutral, easy to say, no gender or nation.
var (
	nameColours = []string{"Amber", "Blue", "Coral", "Green", "Indigo", "Jade", "Lilac", "Olive", "Orange", "Pearl", "Red", "Sand", "Silver", "Teal", "Violet", "Yellow"}
	nameThings  = []string{"Birch", "Cloud", "Comet", "Delta", "Fern", "Harbor", "Lake", "Maple", "Meadow", "Pebble", "River", "Spruce", "Stone", "Summit", "Valley", "Willow"}
)

// assignedPseudonym makes an anonymous pseudonym; taken reports the names
// already used in the session so the result is unique there.
func assignedPseudonym(taken func(string) bool) string {
	for attempt := 0; ; attempt++ {
		b := randomBytes(2)
		name := nameColours[int(b[0])%len(nameColours)] + " " + nameThings[int(b[1])%len(nameThings)]
		if attempt > 32 {
			name = fmt.Sprintf("%s %d", name, attempt)
		}
		if !taken(name) {
			return name
		}
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on Linux
	}
	return b
}

const codeAlphabet = "abcdefghijkmnpqrstuvwxyz23456789" // no 0/o, 1/l

// randomCode returns n characters that are easy to read aloud.
func randomCode(n int) string {
	b := randomBytes(n)
	out := make([]byte, n)
	for i := range b {
		out[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(out)
}

// newToken returns a secret resume token and its stored hash.
func newToken() (token, hash string) {
	token = base64.RawURLEncoding.EncodeToString(randomBytes(32))
	return token, hashToken(token)
}

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
