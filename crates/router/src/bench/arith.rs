//! Re-checking the arithmetic in a model's worked answer: every `<<expr=result>>` annotation and
//! every plain-text `a op b = c` is re-computed.

/// A tiny arithmetic expression: numbers (`1,200.50`, `$5`, `60%`), `+ - * / x × ÷`, parentheses.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Num(f64),
    Op(char),
    Open,
    Close,
}

fn tokenize(s: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '$' | '\\' | '€' | '£' => i += 1,
            '0'..='9' | '.' => {
                let mut num = String::new();
                while i < chars.len() {
                    let d = chars[i];
                    if d.is_ascii_digit() || d == '.' {
                        num.push(d);
                    } else if d == ','
                        && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit())
                        && !num.is_empty()
                    {
                        // thousands separator
                    } else {
                        break;
                    }
                    i += 1;
                }
                let v: f64 = num.trim_end_matches('.').parse().ok()?;
                if chars.get(i) == Some(&'%') {
                    i += 1;
                    out.push(Tok::Num(v / 100.0));
                } else {
                    out.push(Tok::Num(v));
                }
            }
            '+' | '-' | '*' | '/' => {
                out.push(Tok::Op(c));
                i += 1;
            }
            'x' | '×' | '⋅' | '·' => {
                out.push(Tok::Op('*'));
                i += 1;
            }
            '÷' => {
                out.push(Tok::Op('/'));
                i += 1;
            }
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<Tok> {
        self.toks.get(self.pos).copied()
    }
    fn expr(&mut self) -> Option<f64> {
        let mut v = self.term()?;
        while let Some(Tok::Op(op @ ('+' | '-'))) = self.peek() {
            self.pos += 1;
            let r = self.term()?;
            v = if op == '+' { v + r } else { v - r };
        }
        Some(v)
    }
    fn term(&mut self) -> Option<f64> {
        let mut v = self.factor()?;
        while let Some(Tok::Op(op @ ('*' | '/'))) = self.peek() {
            self.pos += 1;
            let r = self.factor()?;
            v = if op == '*' { v * r } else { v / r };
        }
        Some(v)
    }
    fn factor(&mut self) -> Option<f64> {
        match self.peek()? {
            Tok::Op('-') => {
                self.pos += 1;
                Some(-self.factor()?)
            }
            Tok::Num(v) => {
                self.pos += 1;
                // implicit multiplication "2(3+4)"
                if self.peek() == Some(Tok::Open) {
                    return Some(v * self.factor()?);
                }
                Some(v)
            }
            Tok::Open => {
                self.pos += 1;
                let v = self.expr()?;
                if self.peek() != Some(Tok::Close) {
                    return None;
                }
                self.pos += 1;
                Some(v)
            }
            _ => None,
        }
    }
}

/// Evaluates an expression; `None` if it does not parse or has no operator (a bare number).
pub(crate) fn eval(s: &str) -> Option<f64> {
    let toks = tokenize(s.trim())?;
    let mut p = Parser {
        toks: &toks,
        pos: 0,
    };
    let v = p.expr()?;
    (p.pos == toks.len() && v.is_finite()).then_some(v)
}

fn has_operator(s: &str) -> bool {
    tokenize(s).is_some_and(|t| {
        t.windows(2)
            .any(|w| matches!(w, [Tok::Num(_), Tok::Op(_)] | [Tok::Close, Tok::Op(_)]))
    })
}

/// Parses the leading number of `s` (`$1,200.5`, `-3`, `2/3` as a fraction).
pub(crate) fn leading_number(s: &str) -> Option<f64> {
    let s = s.trim_start().trim_start_matches(['$', '\\']);
    let end = s
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_digit() || c == '.' || c == ',' || c == '/' || (i == 0 && c == '-'))
        })
        .map_or(s.len(), |(i, _)| i);
    let t = s[..end].trim_end_matches(['.', ',', '/']);
    if t.is_empty() || t == "-" {
        return None;
    }
    if let Some((a, b)) = t.split_once('/') {
        let a: f64 = a.replace(',', "").parse().ok()?;
        let b: f64 = b.replace(',', "").parse().ok()?;
        return (b != 0.0).then(|| a / b);
    }
    t.replace(',', "").parse().ok()
}

/// Whether `claimed` matches `computed` up to rounding in the answer.
pub(crate) fn close(computed: f64, claimed: f64) -> bool {
    let tol = (0.011f64).max(0.002 * claimed.abs());
    (computed - claimed).abs() <= tol
}

/// The outcome of re-checking one answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Checks {
    /// Equations re-computed.
    pub checked: usize,
    /// Equations whose claimed result is wrong.
    pub failed: usize,
    /// Equations accepted only up to rounding (`10/60 = 0.17`): an approximation entered the
    /// chain.
    pub approximate: usize,
    /// Claimed results of all checked equations, in order.
    pub results: Vec<f64>,
}

fn is_expr_char(c: char) -> bool {
    c.is_ascii_digit()
        || matches!(
            c,
            '.' | ','
                | '+'
                | '-'
                | '*'
                | '/'
                | 'x'
                | '×'
                | '÷'
                | '('
                | ')'
                | '$'
                | '%'
                | ' '
                | '\\'
        )
}

/// Re-computes every `<<lhs=rhs>>` and every plain `lhs = rhs` in `text`.
pub(crate) fn check(text: &str) -> Checks {
    let mut out = Checks::default();
    let mut record = |lhs: &str, rhs: Option<f64>| {
        let Some(claimed) = rhs else { return };
        if !has_operator(lhs) {
            return;
        }
        if let Some(v) = eval(lhs) {
            out.checked += 1;
            if !close(v, claimed) {
                out.failed += 1;
            } else if (v - claimed).abs() > 1e-9 * claimed.abs().max(1.0) {
                out.approximate += 1;
            }
            out.results.push(claimed);
        }
    };
    // Annotations.
    let mut rest = text;
    while let Some(start) = rest.find("<<") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(">>") else { break };
        let inner = &after[..end];
        if let Some((lhs, rhs)) = inner.rsplit_once('=') {
            record(lhs, eval(rhs).or_else(|| leading_number(rhs)));
        }
        rest = &after[end + 2..];
    }
    // Plain text, outside annotations.
    let plain = strip_annotations(text);
    for (pos, _) in plain.match_indices('=') {
        let before = &plain[..pos];
        let start = before
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_expr_char(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        // Drop a leading 'x' or operator left over from a word ("box = ..." is not math).
        let lhs = before[start..]
            .trim_start_matches(|c: char| !c.is_ascii_digit() && c != '(' && c != '$');
        record(lhs, leading_number(&plain[pos + 1..]));
    }
    out
}

/// `text` with every `<<…>>` removed.
pub(crate) fn strip_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<<") {
        out.push_str(&rest[..start]);
        match rest[start..].find(">>") {
            Some(end) => rest = &rest[start + end + 2..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_with_precedence_percent_and_commas() {
        assert_eq!(eval("8*5*60/100"), Some(24.0));
        assert_eq!(eval("8 x $5 x 60%"), Some(24.0));
        assert_eq!(eval("1,200 + 2 * (3 - 1)"), Some(1204.0));
        assert_eq!(eval("42"), Some(42.0));
        assert_eq!(eval("abc"), None);
    }

    #[test]
    fn finds_wrong_steps() {
        let text = "She has 16 - 3 = 13 eggs. Then 13 - 4 = 8 eggs. So 9 * $2 = $<<9*2=18>>18.";
        let c = check(text);
        // The annotation is checked, and so is the text around it once annotations are
        // stripped ("9 * $2 = $18"): 4 checks, one wrong (13 - 4 = 8).
        assert_eq!(c.checked, 4, "{c:?}");
        assert_eq!(c.failed, 1);
        assert_eq!(c.results, vec![18.0, 13.0, 8.0, 18.0]);
    }

    #[test]
    fn leading_numbers() {
        assert_eq!(leading_number(" $1,200.50 dollars"), Some(1200.5));
        assert_eq!(leading_number("2/3 of an hour"), Some(2.0 / 3.0));
        assert_eq!(leading_number(" 18."), Some(18.0));
        assert_eq!(leading_number(" minutes"), None);
    }
}
