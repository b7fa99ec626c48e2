package matching

import (
	"slices"
	"strings"
	"unicode"
)

// Tokenize splits Chinese and mixed text into search tokens: every bigram of
// a run of Han characters (a lone Han character is kept as a unigram), and
// lower-cased runs of ASCII letters and digits ("CAD", "C1", "c++").
// Full-width Latin letters and digits are folded to ASCII first. Tokens come
// in text order and may repeat.
func Tokenize(s string) []string {
	var out []string
	var han []rune
	var word strings.Builder
	flushHan := func() {
		switch {
		case len(han) == 1:
			out = append(out, string(han))
		case len(han) > 1:
			for i := 0; i+1 < len(han); i++ {
				out = append(out, string(han[i:i+2]))
			}
		}
		han = han[:0]
	}
	flushWord := func() {
		if word.Len() > 0 {
			out = append(out, word.String())
			word.Reset()
		}
	}
	for _, r := range s {
		if r >= 0xFF01 && r <= 0xFF5E { // full-width ASCII block
			r -= 0xFEE0
		}
		switch {
		case unicode.Is(unicode.Han, r):
			flushWord()
			han = append(han, r)
		case r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '+' || r == '#'):
			flushHan()
			word.WriteRune(unicode.ToLower(r))
		default:
			flushHan()
			flushWord()
		}
	}
	flushHan()
	flushWord()
	return out
}

// TokenSet is Tokenize without repeats, sorted.
func TokenSet(s string) []string {
	t := Tokenize(s)
	slices.Sort(t)
	return slices.Compact(t)
}

// normTag normalizes a skill or certificate name so that "CAD", " cad " and
// "ＣＡＤ" are one tag.
func normTag(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		if r >= 0xFF01 && r <= 0xFF5E {
			r -= 0xFEE0
		}
		if unicode.IsSpace(r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
