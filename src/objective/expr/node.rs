//! The expression tree, and its symbolic derivative with respect to one leaf (an occurrence of
//! x[k], or the value of a sum held in a slot).

/// An integer expression: an index into x or a sum's bound.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IExpr {
    /// A literal.
    Lit(i64),
    /// The index of the enclosing sum at this depth (0: outermost).
    Var(usize),
    /// The dimension d.
    D,
    /// Sum.
    Add(Box<IExpr>, Box<IExpr>),
    /// Difference.
    Sub(Box<IExpr>, Box<IExpr>),
    /// Product.
    Mul(Box<IExpr>, Box<IExpr>),
}

impl IExpr {
    /// Its value, with the enclosing sums' indices `vars` (outermost first).
    pub fn eval(&self, vars: &[i64], d: i64) -> i64 {
        match self {
            IExpr::Lit(v) => *v,
            IExpr::Var(k) => vars[*k],
            IExpr::D => d,
            IExpr::Add(a, b) => a.eval(vars, d).saturating_add(b.eval(vars, d)),
            IExpr::Sub(a, b) => a.eval(vars, d).saturating_sub(b.eval(vars, d)),
            IExpr::Mul(a, b) => a.eval(vars, d).saturating_mul(b.eval(vars, d)),
        }
    }
}

/// The functions of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    /// e^a.
    Exp,
    /// Natural logarithm.
    Log,
    /// Square root.
    Sqrt,
    /// Sine.
    Sin,
    /// Cosine.
    Cos,
    /// Hyperbolic tangent.
    Tanh,
    /// |a| (its derivative is sign(a)).
    Abs,
    /// sign(a): -1, 0 or 1 (derivative 0; only in derived gradients and labels).
    Sign,
}

impl Func {
    /// The names the language takes.
    pub const NAMES: [&'static str; 8] = ["exp", "log", "sqrt", "sin", "cos", "tanh", "abs", "sign"];

    /// The function named `name`.
    pub fn from_name(name: &str) -> Option<Func> {
        let all = [Func::Exp, Func::Log, Func::Sqrt, Func::Sin, Func::Cos, Func::Tanh, Func::Abs, Func::Sign];
        Self::NAMES.iter().position(|n| *n == name).map(|i| all[i])
    }

    /// Its name (WGSL's too).
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// A comparison (1 when true, 0 when false; derivative 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// <
    Lt,
    /// >
    Gt,
    /// <=
    Le,
    /// >=
    Ge,
}

impl Cmp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Gt => ">",
            Cmp::Le => "<=",
            Cmp::Ge => ">=",
        }
    }
}

/// `sum(i, lo, hi, body)`.
#[derive(Clone, Debug, PartialEq)]
pub struct SumNode {
    /// The index's depth (the number of sums around this one).
    pub depth: usize,
    /// First index.
    pub lo: IExpr,
    /// One past the last index.
    pub hi: IExpr,
    /// The summand.
    pub body: Node,
}

/// A real-valued expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A constant.
    Const(f64),
    /// x at an index.
    X(IExpr),
    /// An integer (a sum index, d) as a number.
    Int(IExpr),
    /// A value held in a slot of the program (a sum, an adjoint).
    Slot(usize),
    /// -a.
    Neg(Box<Node>),
    /// a + b.
    Add(Box<Node>, Box<Node>),
    /// a - b.
    Sub(Box<Node>, Box<Node>),
    /// a * b.
    Mul(Box<Node>, Box<Node>),
    /// a / b.
    Div(Box<Node>, Box<Node>),
    /// a^n, n an integer: a product of n factors a (1/that for n < 0).
    Powi(Box<Node>, i32),
    /// a^b = exp(b log a).
    Pow(Box<Node>, Box<Node>),
    /// A function of one argument.
    Call(Func, Box<Node>),
    /// A comparison.
    Cmp(Cmp, Box<Node>, Box<Node>),
    /// A sum over an index.
    Sum(Box<SumNode>),
}

/// What a derivative is taken with respect to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Leaf<'a> {
    /// The occurrences of x at this index expression.
    X(&'a IExpr),
    /// A slot's value.
    Slot(usize),
}

impl Node {
    /// Its value when it holds no x, slot or index (constant exponents, folding).
    pub fn constant(&self) -> Option<f64> {
        Some(match self {
            Node::Const(v) => *v,
            Node::Neg(a) => -a.constant()?,
            Node::Add(a, b) => a.constant()? + b.constant()?,
            Node::Sub(a, b) => a.constant()? - b.constant()?,
            Node::Mul(a, b) => a.constant()? * b.constant()?,
            Node::Div(a, b) => a.constant()? / b.constant()?,
            Node::Powi(a, n) => a.constant()?.powi(*n),
            Node::Pow(a, b) => a.constant()?.powf(b.constant()?),
            _ => return None,
        })
    }

    /// Every distinct index at which the tree reads x outside its sums, in order of appearance.
    pub fn x_leaves(&self, out: &mut Vec<IExpr>) {
        match self {
            Node::X(i) => {
                if !out.contains(i) {
                    out.push(i.clone());
                }
            }
            Node::Neg(a) | Node::Powi(a, _) | Node::Call(_, a) => a.x_leaves(out),
            Node::Add(a, b) | Node::Sub(a, b) | Node::Mul(a, b) | Node::Div(a, b) | Node::Pow(a, b) | Node::Cmp(_, a, b) => {
                a.x_leaves(out);
                b.x_leaves(out);
            }
            Node::Const(_) | Node::Int(_) | Node::Slot(_) | Node::Sum(_) => {}
        }
    }

    /// The derivative with respect to `leaf`, by the rules of calculus, simplified as it is
    /// built (sums must have been replaced by slots: [`super::program`]).
    pub fn diff(&self, leaf: Leaf) -> Node {
        use Node as N;
        match self {
            N::Const(_) | N::Int(_) | N::Cmp(..) => c(0.0),
            N::X(i) => c(if leaf == Leaf::X(i) { 1.0 } else { 0.0 }),
            N::Slot(s) => c(if leaf == Leaf::Slot(*s) { 1.0 } else { 0.0 }),
            N::Neg(a) => neg(a.diff(leaf)),
            N::Add(a, b) => add(a.diff(leaf), b.diff(leaf)),
            N::Sub(a, b) => sub(a.diff(leaf), b.diff(leaf)),
            N::Mul(a, b) => add(mul(a.diff(leaf), (**b).clone()), mul((**a).clone(), b.diff(leaf))),
            // (a/b)' = a'/b - a b'/b^2.
            N::Div(a, b) => sub(div(a.diff(leaf), (**b).clone()), div(mul((**a).clone(), b.diff(leaf)), powi((**b).clone(), 2))),
            N::Powi(a, n) => mul(mul(c(f64::from(*n)), powi((**a).clone(), n - 1)), a.diff(leaf)),
            // (a^b)' = a^b (b' log a + b a'/a).
            N::Pow(a, b) => {
                let inner = add(mul(b.diff(leaf), call(Func::Log, (**a).clone())), div(mul((**b).clone(), a.diff(leaf)), (**a).clone()));
                mul(self.clone(), inner)
            }
            N::Call(f, a) => {
                let da = a.diff(leaf);
                if da == c(0.0) {
                    return da;
                }
                let a = (**a).clone();
                let outer = match f {
                    Func::Exp => self.clone(),
                    Func::Log => return div(da, a),
                    Func::Sqrt => return div(da, mul(c(2.0), self.clone())),
                    Func::Sin => call(Func::Cos, a),
                    Func::Cos => neg(call(Func::Sin, a)),
                    Func::Tanh => sub(c(1.0), powi(self.clone(), 2)),
                    Func::Abs => call(Func::Sign, a),
                    Func::Sign => return c(0.0),
                };
                mul(outer, da)
            }
            N::Sum(_) => unreachable!("sums are slots before derivatives are taken"),
        }
    }
}

/// A constant.
pub fn c(v: f64) -> Node {
    Node::Const(v)
}

/// -a, folded.
pub fn neg(a: Node) -> Node {
    match a {
        Node::Const(v) => c(-v),
        Node::Neg(inner) => *inner,
        a => Node::Neg(Box::new(a)),
    }
}

/// a + b, folded.
pub fn add(a: Node, b: Node) -> Node {
    match (a.constant(), b.constant()) {
        (Some(x), Some(y)) => c(x + y),
        (Some(0.0), _) => b,
        (_, Some(0.0)) => a,
        _ => Node::Add(Box::new(a), Box::new(b)),
    }
}

/// a - b, folded.
pub fn sub(a: Node, b: Node) -> Node {
    match (a.constant(), b.constant()) {
        (Some(x), Some(y)) => c(x - y),
        (Some(0.0), _) => neg(b),
        (_, Some(0.0)) => a,
        _ => Node::Sub(Box::new(a), Box::new(b)),
    }
}

/// a * b, folded (a constant factor comes first, and constant factors merge).
pub fn mul(a: Node, b: Node) -> Node {
    match (a.constant(), b.constant()) {
        (Some(x), Some(y)) => c(x * y),
        (Some(0.0), _) | (_, Some(0.0)) => c(0.0),
        (Some(1.0), _) => b,
        (_, Some(1.0)) => a,
        (Some(-1.0), _) => neg(b),
        (_, Some(-1.0)) => neg(a),
        (None, Some(_)) => mul(b, a),
        (Some(x), None) => match b {
            Node::Mul(p, q) if p.constant().is_some() => mul(c(x * p.constant().unwrap_or(1.0)), *q),
            b => Node::Mul(Box::new(a), Box::new(b)),
        },
        _ => Node::Mul(Box::new(a), Box::new(b)),
    }
}

/// a / b, folded.
pub fn div(a: Node, b: Node) -> Node {
    match (a.constant(), b.constant()) {
        (Some(x), Some(y)) => c(x / y),
        (Some(0.0), _) => c(0.0),
        (_, Some(1.0)) => a,
        _ => Node::Div(Box::new(a), Box::new(b)),
    }
}

/// a^n, folded.
pub fn powi(a: Node, n: i32) -> Node {
    match (a.constant(), n) {
        (Some(x), _) => c(x.powi(n)),
        (_, 0) => c(1.0),
        (_, 1) => a,
        _ => Node::Powi(Box::new(a), n),
    }
}

/// f(a).
pub fn call(f: Func, a: Node) -> Node {
    Node::Call(f, Box::new(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_values() {
        let x = || Node::X(IExpr::Lit(0));
        assert_eq!(mul(c(2.0), c(3.0)), c(6.0));
        assert_eq!(mul(x(), c(1.0)), x());
        assert_eq!(add(c(0.0), x()), x());
        assert_eq!(mul(c(0.25), mul(c(4.0), x())), mul(c(1.0), x()));
        assert_eq!(powi(x(), 1), x());
        // d/dx (0.25 x^4) = x^3 once the constants merge.
        let f = mul(c(0.25), Node::Powi(Box::new(x()), 4));
        assert_eq!(f.diff(Leaf::X(&IExpr::Lit(0))), Node::Powi(Box::new(x()), 3));
    }
}
