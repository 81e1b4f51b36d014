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

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/parley-lab/parley/signaling/protocol"
)

// MaxCombiningMarks bounds the combining marks on one character of a
// pseudonym or seat label: enough for any real script (Vietnamese stacks
// two), not for a pile-up that smears over the neighbouring lines.
const MaxCombiningMarks = 3

// Characters emoji sequences are built with.
const (
	zwj          = '\u200D' // joins emoji into one (👩‍🔬)
	blackFlag    = '\U0001F3F4'
	tagFirst     = '\U000E0020' // tag characters spell a subdivision flag after blackFlag
	tagLast      = '\U000E007F'
	keycapCombin = '\u20E3'
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

// CheckPseudonym normalises a typed pseudonym (Unicode NFC, trimmed) and
// checks it: 1 to 32 printable characters, no control, invisible or
// text-direction characters, at most MaxCombiningMarks marks on one
// character. Emoji sequences (joined with ZWJ, flags with tags) are allowed.
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
	t := strings.TrimSpace(norm.NFC.String(s))
	n := utf8.RuneCountInString(t)
	if n == 0 {
		return "", fmt.Errorf("%w: the %s is empty", sentinel, what)
	}
	if n > max {
		return "", fmt.Errorf("%w: the %s has %d characters; at most %d are allowed", sentinel, what, n, max)
	}
	runes := []rune(t)
	marks := 0
	for i, r := range runes {
		if unicode.In(r, unicode.Mn, unicode.Me) && r != '\uFE0F' && r != keycapCombin {
			if marks++; marks > MaxCombiningMarks {
				return "", fmt.Errorf("%w: the %s stacks more than %d combining marks on one character", sentinel, what, MaxCombiningMarks)
			}
			continue
		}
		marks = 0
		switch {
		case r == zwj && i > 0 && i+1 < len(runes) && isEmoji(runes[i-1]) && isEmoji(runes[i+1]):
			continue // inside an emoji sequence
		case r >= tagFirst && r <= tagLast && inFlagSequence(runes[:i]):
			continue
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

// isEmoji reports whether r can stand on either side of a ZWJ in an emoji
// sequence: a pictograph, a skin-tone modifier or the variation selector.
func isEmoji(r rune) bool {
	return unicode.Is(unicode.So, r) || r >= 0x1F3FB && r <= 0x1F3FF || r == '\uFE0F' || r >= 0x1F000 && r <= 0x1FAFF
}

// inFlagSequence reports whether the runes before a tag character are a
// black flag followed by tags only.
func inFlagSequence(before []rune) bool {
	for i := len(before) - 1; i >= 0; i-- {
		switch r := before[i]; {
		case r >= tagFirst && r <= tagLast:
			continue
		case r == blackFlag:
			return true
		default:
			return false
		}
	}
	return false
}

// PseudonymKey is what two pseudonyms are compared by: compatibility-
// normalised (NFKC, so a full-width "Ａnn" is "Ann") and case-folded.
func PseudonymKey(s string) string {
	return cases.Fold().String(norm.NFKC.String(s))
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
