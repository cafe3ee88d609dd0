//! The CPU twin of an expression objective: its [`Program`] interpreted in f32, f64, or dual
//! numbers (forward derivatives of the derived gradient: exact Hessian-vector products). Each
//! operation is the WGSL twin's ([`super::wgsl`]), in the same order.

use super::node::{Cmp, Func, IExpr, Node};
use crate::objective::LANES;
use super::program::{Program, Stmt};
use std::ops::{Add, Div, Mul, Neg, Sub};

/// The arithmetic a program runs in.
pub trait Scalar: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> + Neg<Output = Self> {
    /// A constant (rounded to the type, as WGSL rounds a literal typed `real`).
    fn of(v: f64) -> Self;
    /// A function of one argument.
    fn apply(self, f: Func) -> Self;
    /// 1 where `a op b` holds, else 0 (comparing values, not tangents).
    fn cmp(op: Cmp, a: Self, b: Self) -> Self;
}

/// A [`Scalar`] that is one number: its value widened.
pub trait Real: Scalar {
    /// The value (the real part), widened.
    fn re(self) -> f64;
}

/// Whether `a op b`.
fn holds(op: Cmp, a: f64, b: f64) -> bool {
    match op {
        Cmp::Lt => a < b,
        Cmp::Gt => a > b,
        Cmp::Le => a <= b,
        Cmp::Ge => a >= b,
    }
}

macro_rules! float_scalar {
    ($t:ty) => {
        impl Scalar for $t {
            fn of(v: f64) -> Self {
                v as $t
            }
            fn apply(self, f: Func) -> Self {
                match f {
                    Func::Exp => self.exp(),
                    Func::Log => self.ln(),
                    Func::Sqrt => self.sqrt(),
                    Func::Sin => self.sin(),
                    Func::Cos => self.cos(),
                    Func::Tanh => self.tanh(),
                    Func::Abs => self.abs(),
                    // WGSL's sign: 0 at 0.
                    Func::Sign => {
                        if self > 0.0 {
                            1.0
                        } else if self < 0.0 {
                            -1.0
                        } else {
                            0.0
                        }
                    }
                }
            }
            fn cmp(op: Cmp, a: Self, b: Self) -> Self {
                if holds(op, f64::from(a), f64::from(b)) { 1.0 } else { 0.0 }
            }
        }
        impl Real for $t {
            fn re(self) -> f64 {
                f64::from(self)
            }
        }
    };
}
float_scalar!(f32);
float_scalar!(f64);

/// A dual number v + t eps (eps^2 = 0): evaluating the gradient program at x + eps v gives
/// H(x) v in the eps parts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dual {
    /// Value.
    pub v: f64,
    /// Tangent.
    pub t: f64,
}

impl Add for Dual {
    type Output = Dual;
    fn add(self, o: Dual) -> Dual {
        Dual { v: self.v + o.v, t: self.t + o.t }
    }
}
impl Sub for Dual {
    type Output = Dual;
    fn sub(self, o: Dual) -> Dual {
        Dual { v: self.v - o.v, t: self.t - o.t }
    }
}
impl Mul for Dual {
    type Output = Dual;
    fn mul(self, o: Dual) -> Dual {
        Dual { v: self.v * o.v, t: self.t * o.v + self.v * o.t }
    }
}
impl Div for Dual {
    type Output = Dual;
    fn div(self, o: Dual) -> Dual {
        Dual { v: self.v / o.v, t: (self.t * o.v - self.v * o.t) / (o.v * o.v) }
    }
}
impl Neg for Dual {
    type Output = Dual;
    fn neg(self) -> Dual {
        Dual { v: -self.v, t: -self.t }
    }
}

impl Scalar for Dual {
    fn of(v: f64) -> Self {
        Dual { v, t: 0.0 }
    }
    fn apply(self, f: Func) -> Self {
        let v = self.v.apply(f);
        let slope = match f {
            Func::Exp => v,
            Func::Log => 1.0 / self.v,
            Func::Sqrt => 0.5 / v,
            Func::Sin => self.v.cos(),
            Func::Cos => -self.v.sin(),
            Func::Tanh => 1.0 - v * v,
            Func::Abs => self.v.apply(Func::Sign),
            Func::Sign => 0.0,
        };
        Dual { v, t: slope * self.t }
    }
    fn cmp(op: Cmp, a: Self, b: Self) -> Self {
        Dual::of(f64::cmp(op, a.v, b.v))
    }
}

/// [`LANES`] numbers side by side: a program run once for a pack of points, each lane the
/// operations of the one-point run (so bit for bit its result), the interpretation's cost shared
/// by the lanes and the arithmetic vectorised across them.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(transparent)]
pub struct Pack<T>(pub [T; LANES]);

macro_rules! pack_op {
    ($tr:ident, $f:ident, $op:tt) => {
        impl<T: Real> $tr for Pack<T> {
            type Output = Pack<T>;
            #[inline(always)]
            fn $f(self, o: Pack<T>) -> Pack<T> {
                Pack(std::array::from_fn(|l| self.0[l] $op o.0[l]))
            }
        }
    };
}
pack_op!(Add, add, +);
pack_op!(Sub, sub, -);
pack_op!(Mul, mul, *);
pack_op!(Div, div, /);

impl<T: Real> Neg for Pack<T> {
    type Output = Pack<T>;
    fn neg(self) -> Pack<T> {
        Pack(self.0.map(|v| -v))
    }
}

impl<T: Real> Scalar for Pack<T> {
    fn of(v: f64) -> Self {
        Pack([T::of(v); LANES])
    }
    fn apply(self, f: Func) -> Self {
        Pack(self.0.map(|v| v.apply(f)))
    }
    fn cmp(op: Cmp, a: Self, b: Self) -> Self {
        Pack(std::array::from_fn(|l| T::cmp(op, a.0[l], b.0[l])))
    }
}

/// An index the program read outside x, or a loop it cannot run: the expression's text at fault
/// is named by the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexError {
    /// The index expression.
    pub index: IExpr,
    /// Its value.
    pub value: i64,
    /// The enclosing sums' indices then.
    pub at: Vec<i64>,
    /// A loop's length rather than an index into x.
    pub loop_len: bool,
}

/// Sum nesting deeper than this is refused when the objective is built (the indices live on
/// the stack).
pub const MAX_DEPTH: usize = 8;

/// Loops longer than this are refused (a bound typed wrong, which would run for ever).
pub const MAX_LOOP: i64 = 1 << 24;

/// One run of a program: its slots and the sums' indices.
struct Machine<'a, S> {
    x: &'a [S],
    d: i64,
    slots: &'a mut [S],
    vars: [i64; MAX_DEPTH],
    /// The loops open now.
    level: usize,
    /// Check every index (the build-time pass); otherwise trust the check.
    checked: bool,
    /// The first failure of a checked run (the run goes on reading index 0: results unused).
    error: std::cell::RefCell<Option<IndexError>>,
}

/// Runs `p` at `x`: f, the label's value (0 without one), and the gradient into `g`.
pub fn run<S: Scalar>(p: &Program, x: &[S], g: &mut [S]) -> (S, S) {
    let mut stack = [S::of(0.0); 48];
    let mut heap = Vec::new();
    let slots = if p.slots <= stack.len() {
        &mut stack[..p.slots]
    } else {
        heap.resize(p.slots, S::of(0.0));
        &mut heap[..]
    };
    let mut m = Machine { x, d: x.len() as i64, slots, vars: [0; MAX_DEPTH], level: 0, checked: false, error: Default::default() };
    g.iter_mut().for_each(|v| *v = S::of(0.0));
    // Unchecked runs only follow a checked one ([`check`]), so no index can fail here.
    m.exec(&p.stmts, g);
    (m.slots[p.value], p.label.map_or(S::of(0.0), |l| m.slots[l]))
}

/// Runs `p` at `x` checking every index against d and every loop's length: the first failure.
pub fn check(p: &Program, x: &[f64]) -> Result<(), IndexError> {
    let mut slots = vec![0.0; p.slots];
    let mut g = vec![0.0; x.len()];
    let mut m = Machine { x, d: x.len() as i64, slots: &mut slots, vars: [0; MAX_DEPTH], level: 0, checked: true, error: Default::default() };
    m.exec(&p.stmts, &mut g);
    m.error.into_inner().map_or(Ok(()), Err)
}

impl<S: Scalar> Machine<'_, S> {
    fn exec(&mut self, stmts: &[Stmt], g: &mut [S]) {
        for s in stmts {
            match s {
                Stmt::Set(k, v) => self.slots[*k] = self.node(v),
                Stmt::Add(k, v) => self.slots[*k] = self.slots[*k] + self.node(v),
                Stmt::Grad(i, v) => {
                    let k = self.index(i);
                    g[k] = g[k] + self.node(v);
                }
                Stmt::Loop { depth, lo, hi, body } => {
                    let (lo_v, hi_v) = (lo.eval(&self.vars, self.d), hi.eval(&self.vars, self.d));
                    if self.checked && hi_v.saturating_sub(lo_v) > MAX_LOOP {
                        self.fail(IndexError { index: hi.clone(), value: hi_v, at: self.vars[..*depth].to_vec(), loop_len: true });
                        return;
                    }
                    self.level = depth + 1;
                    for i in lo_v..hi_v {
                        self.vars[*depth] = i;
                        self.exec(body, g);
                    }
                    self.level = *depth;
                }
            }
        }
    }

    /// Records a checked run's first failure.
    fn fail(&self, e: IndexError) {
        self.error.borrow_mut().get_or_insert(e);
    }

    fn index(&self, i: &IExpr) -> usize {
        let v = i.eval(&self.vars, self.d);
        if self.checked && !(0..self.d).contains(&v) {
            self.fail(IndexError { index: i.clone(), value: v, at: self.vars[..self.level].to_vec(), loop_len: false });
            return 0;
        }
        v as usize
    }

    fn node(&self, n: &Node) -> S {
        match n {
            Node::Const(v) => S::of(*v),
            Node::X(i) => self.x[self.index(i)],
            Node::Int(i) => S::of(i.eval(&self.vars, self.d) as f64),
            Node::Slot(k) => self.slots[*k],
            Node::Neg(a) => -self.node(a),
            Node::Add(a, b) => self.node(a) + self.node(b),
            Node::Sub(a, b) => self.node(a) - self.node(b),
            Node::Mul(a, b) => self.node(a) * self.node(b),
            Node::Div(a, b) => self.node(a) / self.node(b),
            Node::Powi(a, n) => powi(self.node(a), *n),
            Node::Pow(a, b) => (self.node(b) * self.node(a).apply(Func::Log)).apply(Func::Exp),
            Node::Call(f, a) => self.node(a).apply(*f),
            Node::Cmp(op, a, b) => S::cmp(*op, self.node(a), self.node(b)),
            Node::Sum(_) => unreachable!("a program holds no sums, only their loops"),
        }
    }
}

/// a^n as the WGSL twin's `ex_powi`: ((1 a) a) ... n times, then 1/that for n < 0.
fn powi<S: Scalar>(a: S, n: i32) -> S {
    let mut r = S::of(1.0);
    for _ in 0..n.unsigned_abs() {
        r = r * a;
    }
    if n < 0 { S::of(1.0) / r } else { r }
}
