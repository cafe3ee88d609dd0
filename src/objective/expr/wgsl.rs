//! The WGSL twin of an expression objective: its [`Program`] written as `fn objective`, the
//! operations and their order those of the CPU twin ([`super::eval`]).

use super::node::{Func, IExpr, Node};
use super::program::{Program, Stmt};
use crate::objective::wgsl_real;
use std::fmt::Write;

/// `a^n` as the CPU twin computes it (`eval::powi`): a product from 1, then 1/that for n < 0.
const POWI: &str = "fn ex_powi(a: real, n: i32) -> real {
    var r: real = 1.0;
    for (var k = 0; k < abs(n); k++) {
        r = r * a;
    }
    if (n < 0) {
        r = 1.0 / r;
    }
    return r;
}
";

/// The sign function as the CPU twin's (0 at 0; WGSL's `sign` leaves NaN unspecified).
const SIGN: &str = "fn ex_sign(a: real) -> real {
    return select(select(real(0.0), real(-1.0), a < 0.0), real(1.0), a > 0.0);
}
";

/// The source of `fn objective(x, g) -> Eval` for `p`.
pub fn source(p: &Program, f_text: &str) -> String {
    let mut body = String::new();
    for k in 0..p.slots {
        let _ = writeln!(body, "    var s{k}: real = 0.0;");
    }
    body += "    for (var k = 0u; k < D; k++) {\n        (*g)[k] = 0.0;\n    }\n";
    stmts(&p.stmts, 1, &mut body);
    let label = match p.label {
        Some(l) => format!("u32(max(s{l}, real(0.0)))"),
        None => "0u".to_string(),
    };
    let f_comment = f_text.replace(['\n', '\r'], " ");
    format!("// The expression objective f = {f_comment}, its gradient derived (src/objective/expr).\n{POWI}{SIGN}fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {{\n{body}    return Eval(s{}, {label}, 1u);\n}}\n", p.value)
}

fn stmts(list: &[Stmt], indent: usize, out: &mut String) {
    let pad = "    ".repeat(indent);
    for s in list {
        match s {
            Stmt::Set(k, v) => {
                let _ = writeln!(out, "{pad}s{k} = {};", node(v));
            }
            Stmt::Add(k, v) => {
                let _ = writeln!(out, "{pad}s{k} = s{k} + {};", node(v));
            }
            Stmt::Grad(i, v) => {
                let k = int(i);
                let _ = writeln!(out, "{pad}(*g)[{k}] = (*g)[{k}] + {};", node(v));
            }
            Stmt::Loop { depth, lo, hi, body } => {
                let _ = writeln!(out, "{pad}for (var i{depth}: i32 = {}; i{depth} < {}; i{depth}++) {{", int(lo), int(hi));
                stmts(body, indent + 1, out);
                let _ = writeln!(out, "{pad}}}");
            }
        }
    }
}

/// An integer expression in i32.
pub fn int(i: &IExpr) -> String {
    match i {
        IExpr::Lit(v) => format!("{v}"),
        IExpr::Var(k) => format!("i{k}"),
        IExpr::D => "i32(D)".into(),
        IExpr::Add(a, b) => format!("({} + {})", int(a), int(b)),
        IExpr::Sub(a, b) => format!("({} - {})", int(a), int(b)),
        IExpr::Mul(a, b) => format!("({} * {})", int(a), int(b)),
    }
}

fn node(n: &Node) -> String {
    match n {
        Node::Const(v) => format!("real({})", wgsl_real(*v)),
        Node::X(i) => format!("(*x)[{}]", int(i)),
        Node::Int(i) => format!("real({})", int(i)),
        Node::Slot(k) => format!("s{k}"),
        Node::Neg(a) => format!("(-{})", node(a)),
        Node::Add(a, b) => format!("({} + {})", node(a), node(b)),
        Node::Sub(a, b) => format!("({} - {})", node(a), node(b)),
        Node::Mul(a, b) => format!("({} * {})", node(a), node(b)),
        Node::Div(a, b) => format!("({} / {})", node(a), node(b)),
        Node::Powi(a, n) => format!("ex_powi({}, {n})", node(a)),
        Node::Pow(a, b) => format!("real(exp(f32({} * real(log(f32({}))))))", node(b), node(a)),
        Node::Call(Func::Sign, a) => format!("ex_sign({})", node(a)),
        Node::Call(f @ (Func::Sqrt | Func::Abs), a) => format!("{}({})", f.name(), node(a)),
        // Vulkan has exp, log, sin, cos and tanh in f32 only: f64 kernels call them in f32.
        Node::Call(f, a) => format!("real({}(f32({})))", f.name(), node(a)),
        Node::Cmp(op, a, b) => format!("select(real(0.0), real(1.0), {} {} {})", node(a), op.symbol(), node(b)),
        Node::Sum(_) => unreachable!("a program holds no sums, only their loops"),
    }
}
