//! Glob-style patterns (`KEYS`, `SCAN MATCH`, `CONFIG GET`), with the syntax of Redis's
//! `stringmatchlen`: `*`, `?`, `[abc]`, `[^a-z]`, and `\` to escape.
//!
//! The pattern is compiled into single-byte tokens and stars, then matched with
//! backtracking to the last star only, so a pattern such as `*a*a*a*b` costs at most
//! the product of the lengths, never exponential time.

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Byte(u8),
    Class { negate: bool, ranges: Vec<(u8, u8)> },
}

impl Token {
    fn accepts(&self, b: u8) -> bool {
        match self {
            Token::Star => true,
            Token::Any => true,
            Token::Byte(c) => *c == b,
            Token::Class { negate, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= b && b <= hi) != *negate
            }
        }
    }
}

impl Pattern {
    /// Compiles `pattern`; every byte string is a valid pattern (an unclosed `[` runs to
    /// the end, as in Redis).
    pub(crate) fn new(pattern: &[u8]) -> Self {
        let p = pattern;
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < p.len() {
            match p[i] {
                b'*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                    i += 1;
                }
                b'?' => {
                    tokens.push(Token::Any);
                    i += 1;
                }
                b'[' => {
                    i += 1;
                    let negate = p.get(i) == Some(&b'^');
                    if negate {
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    loop {
                        match p.get(i) {
                            None => break,
                            Some(b']') => {
                                i += 1;
                                break;
                            }
                            Some(b'\\') if p.len() - i >= 2 => {
                                ranges.push((p[i + 1], p[i + 1]));
                                i += 2;
                            }
                            Some(&lo) if p.len() - i >= 3 && p[i + 1] == b'-' => {
                                let hi = p[i + 2];
                                ranges.push((lo.min(hi), lo.max(hi)));
                                i += 3;
                            }
                            Some(&c) => {
                                ranges.push((c, c));
                                i += 1;
                            }
                        }
                    }
                    tokens.push(Token::Class { negate, ranges });
                }
                b'\\' if p.len() - i >= 2 => {
                    tokens.push(Token::Byte(p[i + 1]));
                    i += 2;
                }
                c => {
                    tokens.push(Token::Byte(c));
                    i += 1;
                }
            }
        }
        Self { tokens }
    }

    /// True if the pattern is `*`: everything matches.
    pub(crate) fn matches_everything(&self) -> bool {
        self.tokens == [Token::Star]
    }

    /// True if `s` matches the whole pattern.
    pub(crate) fn matches(&self, s: &[u8]) -> bool {
        let t = &self.tokens;
        let (mut ti, mut si) = (0, 0);
        // The last star seen and the input position it is tried to cover up to.
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            match t.get(ti) {
                Some(Token::Star) => {
                    star = Some((ti, si));
                    ti += 1;
                }
                Some(tok) if tok.accepts(s[si]) => {
                    ti += 1;
                    si += 1;
                }
                _ => match star {
                    Some((st, ss)) => {
                        ti = st + 1;
                        si = ss + 1;
                        star = Some((st, ss + 1));
                    }
                    None => return false,
                },
            }
        }
        t[ti..].iter().all(|tok| *tok == Token::Star)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::new(p.as_bytes()).matches(s.as_bytes())
    }

    #[test]
    fn the_syntax_of_redis_patterns() {
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello") && m("h?llo", "hallo") && !m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo") && m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hello") && !m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo") && !m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo") && !m("h[a-b]llo", "hcllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed ranges are swapped");
        assert!(m(r"h\*llo", "h*llo") && !m(r"h\*llo", "hello"));
        assert!(m(r"[\]]", "]"));
        assert!(m("user:*:name", "user:42:name") && !m("user:*:name", "user:42:age"));
        assert!(m("[abc", "b"), "an unclosed class runs to the end");
        assert!(m("a\\", "a\\"), "a trailing backslash is itself");
        assert!(m("**a**", "bab"));
    }

    #[test]
    fn adversarial_patterns_stay_fast() {
        let s = "a".repeat(5_000);
        let p = format!("{}b", "*a".repeat(50));
        // Backtracking to the last star only: about 5,000 × 100 steps; a matcher that
        // retried every star would not finish.
        assert!(!m(&p, &s));
        assert!(m(&p, &format!("{s}b")));
    }
}
