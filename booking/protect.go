package booking

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"jobhall/internal/apperr"
)

// deriveKey derives a 32-byte purpose key from the root secret, so one
// leaked purpose key does not open the others.
func deriveKey(root []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, root, []byte("jobhall-booking"), purpose, 32)
	if err != nil {
		panic(err) // only for impossible lengths
	}
	return k
}

// normalizeNationalID checks an 18-character resident ID (GB 11643: 17
// digits and a check character) and returns it upper-cased.
func normalizeNationalID(v string) (string, error) {
	v = strings.ToUpper(strings.TrimSpace(v))
	bad := apperr.New(apperr.Invalid, "身份证号码无效 / national_id must be an 18-character resident ID with a valid check digit")
	if len(v) != 18 {
		return "", bad
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := range 17 {
		if v[i] < '0' || v[i] > '9' {
			return "", bad
		}
		sum += int(v[i]-'0') * weights[i]
	}
	if "10X98765432"[sum%11] != v[17] {
		return "", bad
	}
	return v, nil
}

// sealNationalID returns the ciphertext (nonce || AES-GCM), the keyed hash
// used for uniqueness, and the last four characters for display.
func (s *Service) sealNationalID(id string) (enc, mac []byte, last4 string, err error) {
	block, err := aes.NewCipher(s.dataKey)
	if err != nil {
		return nil, nil, "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, "", err
	}
	enc = gcm.Seal(nonce, nonce, []byte(id), []byte("national_id"))
	h := hmac.New(sha256.New, s.idHMACKey)
	h.Write([]byte(id))
	return enc, h.Sum(nil), id[len(id)-4:], nil
}

// maskNationalID shows only the last four characters.
func maskNationalID(last4 string) string {
	if last4 == "" {
		return ""
	}
	return strings.Repeat("*", 14) + last4
}

// Passwords: PBKDF2-SHA256 from the standard library, self-describing so
// the work factor can grow: "pbkdf2-sha256$<iter>$<salt>$<key>".
func (s *Service) hashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, pw, salt, s.pwIter, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", s.pwIter, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

func checkPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, pw, salt, iter, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash makes a login for an unknown account cost as much as a real one.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy, _ = s.hashPassword("not a password") })
	return s.dummy
}
