// Package shellword quotes words for a POSIX shell and splits a simple command into its words, as
// the shell would, without expanding anything. Install writes the hook's command with Quote, and
// recognizes Hangar's hook among the user's by Split; the login service quotes the paths of the
// commands it prints. Its functions are pure and safe for concurrent use.
package shellword

import "strings"

// safe are the characters no POSIX shell treats specially.
const safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-"

// Quote quotes s for a POSIX shell: as it is when it holds only characters no shell treats
// specially, else in single quotes (a single quote inside closes them, is written \', and opens
// them again).
func Quote(s string) string {
	if s != "" && strings.Trim(s, safe) == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Split splits a command into words as a POSIX shell would: blanks separate words; single
// quotes, double quotes and backslashes quote. It reports false for a command that is not one
// simple command (it holds an unquoted control operator or redirection: ; & | < > ( ) ` or a
// newline) or whose quotes do not close.
func Split(s string) ([]string, bool) {
	var (
		words  []string
		word   strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case strings.IndexByte(";&|<>()`\n\r", c) >= 0:
			return nil, false
		case c == '\\':
			if i+1 >= len(s) {
				return nil, false
			}
			i++
			word.WriteByte(s[i])
			inWord = true
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, false
			}
			word.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
					i++
				}
				word.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, false
			}
			inWord = true
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, true
}
