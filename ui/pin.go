package ui

// pin.go: the experimenter's exit PIN, kept only as a salted, slow hash
// (PBKDF2-SHA256) in the kiosk config, which every user of a workstation
// can read.

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PIN hashing parameters. The iteration count makes a guess cost about
// 50 ms here: the PIN space is small, so the hash must be slow; a kiosk
// checks a typed PIN at most a few times.
const (
	PINHashScheme     = "pbkdf2-sha256"
	PINHashIterations = 100_000
	pinSaltBytes      = 16
	pinKeyBytes       = 32
)

// ErrPINHash is returned for an exit_pin_hash that is not one HashPIN makes.
var ErrPINHash = errors.New("exit_pin_hash is not a PIN hash made by `parley kiosk set-pin`")

// ErrPINFormat is returned for a PIN that is not MinPINDigits..MaxPINDigits digits.
var ErrPINFormat = fmt.Errorf("the PIN must be %d to %d digits", MinPINDigits, MaxPINDigits)

// CheckPINFormat reports whether pin is an acceptable exit PIN.
func CheckPINFormat(pin string) error {
	if len(pin) < MinPINDigits || len(pin) > MaxPINDigits || !pinPattern.MatchString(pin) {
		return ErrPINFormat
	}
	return nil
}

// HashPIN returns the exit_pin_hash of pin:
// "pbkdf2-sha256$<iterations>$<salt>$<key>" (base64, no padding).
func HashPIN(pin string) (string, error) {
	if err := CheckPINFormat(pin); err != nil {
		return "", err
	}
	salt := make([]byte, pinSaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, pin, salt, PINHashIterations, pinKeyBytes)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return strings.Join([]string{PINHashScheme, strconv.Itoa(PINHashIterations), enc.EncodeToString(salt), enc.EncodeToString(key)}, "$"), nil
}

type pinHash struct {
	iterations int
	salt, key  []byte
}

func parsePINHash(h string) (pinHash, error) {
	parts := strings.Split(h, "$")
	if len(parts) != 4 || parts[0] != PINHashScheme {
		return pinHash{}, ErrPINHash
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < 1 || n > 100*PINHashIterations {
		return pinHash{}, ErrPINHash
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	key, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) != pinKeyBytes {
		return pinHash{}, ErrPINHash
	}
	return pinHash{iterations: n, salt: salt, key: key}, nil
}

// VerifyPIN reports whether pin matches the hash h.
func VerifyPIN(h, pin string) bool {
	ph, err := parsePINHash(h)
	if err != nil {
		return false
	}
	key, err := pbkdf2.Key(sha256.New, pin, ph.salt, ph.iterations, pinKeyBytes)
	return err == nil && subtle.ConstantTimeCompare(key, ph.key) == 1
}

// HasPIN reports whether an exit PIN is set (as a hash, or in the legacy
// clear-text exit_pin).
func (c Config) HasPIN() bool { return c.ExitPINHash != "" || c.ExitPIN != "" }

// pinMatches checks a typed PIN against the configured one.
func (c Config) pinMatches(pin string) bool {
	if c.ExitPINHash != "" {
		return VerifyPIN(c.ExitPINHash, pin)
	}
	return c.ExitPIN != "" && subtle.ConstantTimeCompare([]byte(pin), []byte(c.ExitPIN)) == 1
}

// CheckForInstall is what `parley config check --kiosk` adds to Validate
// for a kiosk in a lab: an exit PIN must be set, and only as a hash.
func (c Config) CheckForInstall() error {
	if !c.Kiosk {
		return nil
	}
	switch {
	case c.ExitPIN != "":
		return fieldErr("exit_pin", "the PIN is stored in clear text in a file every user can read; run `sudo parley kiosk set-pin` to store it as exit_pin_hash instead")
	case c.ExitPINHash == "":
		return fieldErr("exit_pin_hash", "no exit PIN is set, so the experimenter cannot leave kiosk mode; run `sudo parley kiosk set-pin`")
	}
	return nil
}
