//! From an expression to a straight-line program with loops that computes its value, its
//! gradient and its label: the one form that both the CPU twin ([`super::eval`]) and the WGSL
//! twin ([`super::wgsl`]) are generated from, so the two take the same operations in the same
//! order.
//!
//! The gradient is derived symbolically, in reverse: a sum is a leaf of the expression around it
//! (its value held in a slot), so the gradient of `E` with respect to its leaves is, by the chain
//! rule, `dE/dx[k]` for each index `k` at which `E` reads x outside its sums, plus, for each sum
//! `S = sum(i, B)`, the gradient of `B` at every `i` times `dE/dS`. Each partial derivative is an
//! expression ([`Node::diff`]); the adjoint `dE/dS` is held in a slot, so nested sums cost no
//! more than their own loops. The result is exact (no finite differences), as cheap as a
//! hand-written gradient up to common subexpressions.

use super::node::{IExpr, Leaf, Node, SumNode, c, mul};

/// One statement of a [`Program`].
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// slot = value.
    Set(usize, Node),
    /// slot += value.
    Add(usize, Node),
    /// g[index] += value.
    Grad(IExpr, Node),
    /// for index at `depth` in lo..hi: body.
    Loop {
        /// The index's depth.
        depth: usize,
        /// First index.
        lo: IExpr,
        /// One past the last.
        hi: IExpr,
        /// The statements run for each index.
        body: Vec<Stmt>,
    },
}

/// Value, gradient and label as statements over slots (real-valued temporaries).
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// Slots used.
    pub slots: usize,
    /// Deepest nesting of loops.
    pub depth: usize,
    /// The statements: value, then label, then gradient (which starts from g = 0).
    pub stmts: Vec<Stmt>,
    /// The slot holding f.
    pub value: usize,
    /// The slot holding the label's value, when there is a label expression.
    pub label: Option<usize>,
}

impl Program {
    /// The program of `f` and, optionally, a label expression.
    pub fn new(f: &Node, label: Option<&Node>) -> Program {
        let mut b = Builder { slots: 0, depth: 0 };
        let mut stmts = Vec::new();
        let mut sums = Vec::new();
        let lowered = b.lower(f, &mut stmts, &mut sums);
        let value = b.slot();
        stmts.push(Stmt::Set(value, lowered.clone()));
        let label = label.map(|l| {
            let v = b.lower(l, &mut stmts, &mut Vec::new());
            let s = b.slot();
            stmts.push(Stmt::Set(s, v));
            s
        });
        b.grad(&lowered, &sums, c(1.0), &mut stmts);
        Program { slots: b.slots, depth: b.depth, stmts, value, label }
    }
}

struct Builder {
    slots: usize,
    depth: usize,
}

impl Builder {
    fn slot(&mut self) -> usize {
        self.slots += 1;
        self.slots - 1
    }

    /// `e` with each sum replaced by the slot its loop (appended to `out`) accumulates into;
    /// the sums at this level are listed in `sums` with their slots.
    fn lower(&mut self, e: &Node, out: &mut Vec<Stmt>, sums: &mut Vec<(usize, SumNode)>) -> Node {
        let mut go = |a: &Node| Box::new(self.lower(a, out, sums));
        match e {
            Node::Sum(s) => {
                let slot = self.slot();
                out.push(Stmt::Set(slot, c(0.0)));
                let mut body = Vec::new();
                let v = self.lower(&s.body, &mut body, &mut Vec::new());
                body.push(Stmt::Add(slot, v));
                self.depth = self.depth.max(s.depth + 1);
                out.push(Stmt::Loop { depth: s.depth, lo: s.lo.clone(), hi: s.hi.clone(), body });
                sums.push((slot, (**s).clone()));
                Node::Slot(slot)
            }
            Node::Neg(a) => Node::Neg(go(a)),
            Node::Add(a, b) => Node::Add(go(a), go(b)),
            Node::Sub(a, b) => Node::Sub(go(a), go(b)),
            Node::Mul(a, b) => Node::Mul(go(a), go(b)),
            Node::Div(a, b) => Node::Div(go(a), go(b)),
            Node::Pow(a, b) => Node::Pow(go(a), go(b)),
            Node::Cmp(op, a, b) => Node::Cmp(*op, go(a), go(b)),
            Node::Powi(a, n) => Node::Powi(go(a), *n),
            Node::Call(f, a) => Node::Call(*f, go(a)),
            Node::Const(_) | Node::X(_) | Node::Int(_) | Node::Slot(_) => e.clone(),
        }
    }

    /// Appends to `out` the statements that add `adjoint` times the gradient of `lowered` (sums
    /// as slots, listed in `sums`) to g.
    fn grad(&mut self, lowered: &Node, sums: &[(usize, SumNode)], adjoint: Node, out: &mut Vec<Stmt>) {
        let mut xs = Vec::new();
        lowered.x_leaves(&mut xs);
        for k in &xs {
            let p = mul(adjoint.clone(), lowered.diff(Leaf::X(k)));
            if p != c(0.0) {
                out.push(Stmt::Grad(k.clone(), p));
            }
        }
        for (slot, s) in sums {
            let p = mul(adjoint.clone(), lowered.diff(Leaf::Slot(*slot)));
            if p == c(0.0) {
                continue;
            }
            // The adjoint of the sum, computed once outside its loop.
            let a = match p {
                Node::Const(_) | Node::Slot(_) => p,
                p => {
                    let a = self.slot();
                    out.push(Stmt::Set(a, p));
                    Node::Slot(a)
                }
            };
            let mut body = Vec::new();
            let mut inner = Vec::new();
            let v = self.lower(&s.body, &mut body, &mut inner);
            self.grad(&v, &inner, a, &mut body);
            out.push(Stmt::Loop { depth: s.depth, lo: s.lo.clone(), hi: s.hi.clone(), body });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    #[test]
    fn a_separable_sum_needs_one_gradient_loop() {
        let p = Program::new(&parse("sum(i, 0.25 * x[i]^4)").unwrap(), None);
        // Value: Set, Loop, Set f; gradient: one loop of one Grad (adjoint 1 inlined).
        let loops: Vec<&Stmt> = p.stmts.iter().filter(|s| matches!(s, Stmt::Loop { .. })).collect();
        assert_eq!(loops.len(), 2);
        let Stmt::Loop { body, .. } = loops[1] else { unreachable!() };
        assert!(matches!(body.as_slice(), [Stmt::Grad(IExpr::Var(0), Node::Powi(_, 3))]), "{body:?}");
        assert_eq!(p.depth, 1);
    }
}
