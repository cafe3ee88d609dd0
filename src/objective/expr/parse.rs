//! The expression language's parser: text to a [`Node`] tree, every name resolved, every error
//! naming its column.
//!
//! ```text
//! expr    := sum_ ( ('<' | '>' | '<=' | '>=') sum_ )?        comparisons give 1 or 0
//! sum_    := product (('+' | '-') product)*
//! product := unary (('*' | '/') unary)*
//! unary   := '-' unary | power
//! power   := atom (('^' | '**') unary)?                      right-associative; -x^2 = -(x^2)
//! atom    := number | 'pi' | 'd' | INDEX | 'x' '[' int ']' | 'x' DIGITS
//!          | FUNC '(' expr ')' | 'sum' '(' INDEX (',' int ',' int)? ',' expr ')' | '(' expr ')'
//! int     := integer arithmetic (+, -, *, parentheses) of literals, 'd' and bound indices
//! ```
//!
//! `sum(i, body)` sums over i = 0, ..., d - 1 and `sum(i, a, b, body)` over i = a, ..., b - 1
//! (Python's `range`); an index is a number inside its sum, so `sum(i, (i + 1) * x[i]^2)` is a
//! weighted sum. Integer exponents become products, so `x^4` is defined for negative x.

use super::node::{Cmp, Func, IExpr, Node, SumNode};

/// A parse error: the byte offset it names and what was expected there.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    /// Byte offset in the source.
    pub at: usize,
    /// What went wrong, in words.
    pub message: String,
}

/// Parses `src` as an expression in the variables x (dimension unchecked here: indices are
/// checked against d when the program is built).
pub fn parse(src: &str) -> Result<Node, ParseError> {
    let mut p = Parser { src, pos: 0, scope: Vec::new() };
    let node = p.expr()?;
    p.skip_space();
    if p.pos < src.len() {
        return Err(p.error("an operator or the end of the expression"));
    }
    Ok(node)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// The sum indices in scope, innermost last (their position is their depth).
    scope: Vec<String>,
}

impl Parser<'_> {
    fn error(&self, expected: &str) -> ParseError {
        let found = match self.src[self.pos..].chars().next() {
            Some(c) => format!("found {c:?}"),
            None => "found the end".to_string(),
        };
        ParseError { at: self.pos, message: format!("expected {expected}, {found}") }
    }

    fn skip_space(&mut self) {
        while self.src[self.pos..].starts_with(|c: char| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    /// Consumes `token` (after spaces) when it comes next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.src[self.pos..].starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), ParseError> {
        if self.eat(token) { Ok(()) } else { Err(self.error(&format!("{token:?}"))) }
    }

    /// The identifier that comes next, if one does (not consumed).
    fn peek_ident(&mut self) -> Option<&str> {
        self.skip_space();
        let rest = &self.src[self.pos..];
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return None;
        }
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        Some(&rest[..end])
    }

    fn expr(&mut self) -> Result<Node, ParseError> {
        let a = self.sum()?;
        // Two-character operators first, so that `<=` is not read as `<`.
        for (token, op) in [("<=", Cmp::Le), (">=", Cmp::Ge), ("<", Cmp::Lt), (">", Cmp::Gt)] {
            if self.eat(token) {
                let b = self.sum()?;
                return Ok(Node::Cmp(op, Box::new(a), Box::new(b)));
            }
        }
        Ok(a)
    }

    fn sum(&mut self) -> Result<Node, ParseError> {
        let mut a = self.product()?;
        loop {
            if self.eat("+") {
                a = Node::Add(Box::new(a), Box::new(self.product()?));
            } else if self.eat("-") {
                a = Node::Sub(Box::new(a), Box::new(self.product()?));
            } else {
                return Ok(a);
            }
        }
    }

    fn product(&mut self) -> Result<Node, ParseError> {
        let mut a = self.unary()?;
        loop {
            self.skip_space();
            // `**` is a power, not two products.
            if self.src[self.pos..].starts_with("**") {
                return Ok(a);
            }
            if self.eat("*") {
                a = Node::Mul(Box::new(a), Box::new(self.unary()?));
            } else if self.eat("/") {
                a = Node::Div(Box::new(a), Box::new(self.unary()?));
            } else {
                return Ok(a);
            }
        }
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        if self.eat("-") {
            return Ok(Node::Neg(Box::new(self.unary()?)));
        }
        if self.eat("+") {
            return self.unary();
        }
        self.power()
    }

    fn power(&mut self) -> Result<Node, ParseError> {
        let base = self.atom()?;
        if !(self.eat("**") || self.eat("^")) {
            return Ok(base);
        }
        let at = self.pos;
        let exponent = self.unary()?;
        // An integer exponent is a product of the base (defined for negative bases, and the
        // same operations on both paths); any other one is exp(e log b).
        match exponent.constant() {
            Some(n) if n.fract() == 0.0 && n.abs() <= 64.0 => Ok(Node::Powi(Box::new(base), n as i32)),
            Some(n) if !n.is_finite() => Err(ParseError { at, message: format!("the exponent {n} is not finite") }),
            _ => Ok(Node::Pow(Box::new(base), Box::new(exponent))),
        }
    }

    fn atom(&mut self) -> Result<Node, ParseError> {
        self.skip_space();
        if self.eat("(") {
            let e = self.expr()?;
            self.expect(")")?;
            return Ok(e);
        }
        if self.src[self.pos..].starts_with(|c: char| c.is_ascii_digit() || c == '.') {
            return self.number().map(Node::Const);
        }
        let Some(name) = self.peek_ident().map(str::to_string) else {
            return Err(self.error("a number, x[i], a function or '('"));
        };
        let at = self.pos;
        self.pos += name.len();
        if let Some(depth) = self.scope.iter().rposition(|s| *s == name) {
            return Ok(Node::Int(IExpr::Var(depth)));
        }
        match name.as_str() {
            "x" => {
                self.expect("[")?;
                let i = self.int()?;
                self.expect("]")?;
                Ok(Node::X(i))
            }
            "d" => Ok(Node::Int(IExpr::D)),
            "pi" => Ok(Node::Const(std::f64::consts::PI)),
            "sum" => self.sum_call(),
            _ => {
                if let Some(k) = name.strip_prefix('x').filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit())) {
                    let k = k.parse::<i64>().map_err(|_| ParseError { at, message: format!("the index of {name} is too large") })?;
                    return Ok(Node::X(IExpr::Lit(k)));
                }
                let Some(func) = Func::from_name(&name) else {
                    return Err(ParseError {
                        at,
                        message: format!("unknown name {name:?}; allowed: x[i], x0, x1, ..., d, pi, a sum index, sum(...), {}", Func::NAMES.join(", ")),
                    });
                };
                self.expect("(")?;
                let a = self.expr()?;
                self.expect(")")?;
                Ok(Node::Call(func, Box::new(a)))
            }
        }
    }

    /// `sum(` already read up to the name: `i, body)` or `i, a, b, body)`.
    fn sum_call(&mut self) -> Result<Node, ParseError> {
        self.expect("(")?;
        let Some(var) = self.peek_ident().map(str::to_string) else {
            return Err(self.error("an index name (sum(i, ...))"));
        };
        if matches!(var.as_str(), "x" | "d" | "pi" | "sum") || Func::from_name(&var).is_some() {
            return Err(ParseError { at: self.pos, message: format!("{var:?} cannot name a sum index (it is taken)") });
        }
        self.pos += var.len();
        self.expect(",")?;
        // `sum(i, a, b, body)` has bounds: try integer bounds first, and fall back to the body.
        let mark = self.pos;
        let bounds = match (self.int(), self.eat(",")) {
            (Ok(lo), true) => {
                let hi = self.int()?;
                self.expect(",")?;
                Some((lo, hi))
            }
            _ => {
                self.pos = mark;
                None
            }
        };
        let (lo, hi) = bounds.unwrap_or((IExpr::Lit(0), IExpr::D));
        self.scope.push(var);
        let body = self.expr();
        self.scope.pop();
        let body = body?;
        self.expect(")")?;
        Ok(Node::Sum(Box::new(SumNode { depth: self.scope.len(), lo, hi, body })))
    }

    fn number(&mut self) -> Result<f64, ParseError> {
        let rest = &self.src[self.pos..];
        let mut end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        // An exponent: 1e-3, 2.5E+4.
        let tail = &rest[end..];
        if tail.starts_with(['e', 'E']) {
            let sign = usize::from(tail[1..].starts_with(['+', '-']));
            let digits = tail[1 + sign..].find(|c: char| !c.is_ascii_digit()).unwrap_or(tail.len() - 1 - sign);
            if digits > 0 {
                end += 1 + sign + digits;
            }
        }
        let text = &rest[..end];
        let v = text.parse::<f64>().map_err(|_| ParseError { at: self.pos, message: format!("{text:?} is not a number") })?;
        if !v.is_finite() {
            return Err(ParseError { at: self.pos, message: format!("{text} is not a finite number") });
        }
        self.pos += end;
        Ok(v)
    }

    /// Integer arithmetic: an index or a sum's bound.
    fn int(&mut self) -> Result<IExpr, ParseError> {
        let mut a = self.int_product()?;
        loop {
            if self.eat("+") {
                a = IExpr::Add(Box::new(a), Box::new(self.int_product()?));
            } else if self.eat("-") {
                a = IExpr::Sub(Box::new(a), Box::new(self.int_product()?));
            } else {
                return Ok(a);
            }
        }
    }

    fn int_product(&mut self) -> Result<IExpr, ParseError> {
        let mut a = self.int_atom()?;
        while self.eat("*") {
            a = IExpr::Mul(Box::new(a), Box::new(self.int_atom()?));
        }
        Ok(a)
    }

    fn int_atom(&mut self) -> Result<IExpr, ParseError> {
        self.skip_space();
        if self.eat("(") {
            let e = self.int()?;
            self.expect(")")?;
            return Ok(e);
        }
        if self.eat("-") {
            return Ok(IExpr::Sub(Box::new(IExpr::Lit(0)), Box::new(self.int_atom()?)));
        }
        let rest = &self.src[self.pos..];
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            let v = rest[..end].parse::<i64>().map_err(|_| ParseError { at: self.pos, message: "the integer is too large".into() })?;
            self.pos += end;
            return Ok(IExpr::Lit(v));
        }
        let expected = "an integer, d or a sum index";
        let Some(name) = self.peek_ident().map(str::to_string) else { return Err(self.error(expected)) };
        if let Some(depth) = self.scope.iter().rposition(|s| *s == name) {
            self.pos += name.len();
            return Ok(IExpr::Var(depth));
        }
        if name == "d" {
            self.pos += 1;
            return Ok(IExpr::D);
        }
        Err(ParseError { at: self.pos, message: format!("expected {expected}, found {name:?} (not a sum index in scope)") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> ParseError {
        parse(src).expect_err(src)
    }

    #[test]
    fn precedence_and_associativity() {
        // -x0^2 is -(x0^2); 2^3^2 = 2^9; a - b - c = (a - b) - c.
        let show = |s: &str| format!("{:?}", parse(s).unwrap());
        assert_eq!(show("-x0^2"), show("-(x0^2)"));
        assert_eq!(show("1 - 2 - 3"), show("(1 - 2) - 3"));
        assert_eq!(show("x[0]**2"), show("x0^2"));
        assert!(matches!(parse("2^3^2").unwrap(), Node::Powi(_, 9) | Node::Pow(..)));
        assert!(matches!(parse("x0 <= 1").unwrap(), Node::Cmp(Cmp::Le, ..)));
    }

    #[test]
    fn sums_bind_their_index() {
        let n = parse("sum(i, 0, d - 1, (i + 1) * x[i + 1]^2)").unwrap();
        let Node::Sum(s) = n else { panic!("{n:?}") };
        assert_eq!(s.depth, 0);
        assert_eq!(s.hi, IExpr::Sub(Box::new(IExpr::D), Box::new(IExpr::Lit(1))));
        // A nested sum's index is one deeper, and the outer one is visible inside it.
        assert!(parse("sum(i, sum(j, x[i] * x[j]))").is_ok());
        // Outside its sum the index is unknown.
        assert!(err("sum(i, x[i]) + x[i]").message.contains("not a sum index"));
    }

    #[test]
    fn errors_name_the_column() {
        assert_eq!(err("x0 + * 2").at, 5);
        assert_eq!(err("x0 + foo(1)").at, 5);
        assert!(err("x0 + foo(1)").message.contains("unknown name \"foo\""));
        assert_eq!(err("(x0 + 1").at, 7);
        assert_eq!(err("x0 x1").at, 3);
        assert!(err("sum(exp, x[0])").message.contains("cannot name"));
        assert!(err("1e999").message.contains("finite"));
    }
}
