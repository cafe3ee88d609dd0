//! The CPU backend's batched path, for objectives with [`Batch`] (an embedder's oracle, whose
//! cost is the call): each step gathers the block's stepping chains into one n x d array,
//! evaluates them in one call and steps each chain with its row, in parallel, up to where its
//! step needs the objective at a new point (a ball kick's, x~ at a certification); those points
//! are gathered into a second call, whose rows finish their chains' steps. The step is the
//! scalar [`crate::kernel::Stepper::step`] in its two parts ([`crate::kernel::Stepper::begin`],
//! [`crate::kernel::Stepper::finish`]; the reference the lockstep path is held to), so a batch
//! whose rows are the one-point evaluation gives every chain the bits of the scalar path.

use super::Live;
use crate::Error;
use crate::experiment::Experiment;
use crate::kernel::{Begun, Pending, Real};
use crate::objective::{Batch, Eval};
use rayon::prelude::*;

/// Steps the block `live` until step `target`, their ends, or divergence, with at most two
/// calls of `batch` per step: one at the chains' points, and one at the new points the step of
/// some of them needs (ball kicks, x~ at a certification: [`crate::kernel::Stepper::begin`]).
/// Ends with the batch's error (or one a one-point evaluation met, e.g. at a self-bounding
/// start) as soon as there is one.
pub(super) fn advance<T: Real>(live: &mut [Live<T>], exp: &Experiment, batch: &dyn Batch, target: u32) -> Result<(), Error> {
    let d = exp.objective.dim().max(1);
    let block = live.len();
    let mut rows = Rows::default();
    let mut pending: Vec<Option<Pending>> = Vec::with_capacity(block);
    loop {
        // Row k of the call is chain `chains[k]`; each steps with its row of the gradients in
        // place (the step leaves them in no state the next one reads).
        let mut chains: Vec<&mut Live<T>> = live.iter_mut().filter(|l| l.stepping(target)).collect();
        if chains.is_empty() {
            return Ok(());
        }
        let (gs, evals) = rows.call(chains.len(), |k| &chains[k].x, block, batch, d)?;
        pending.clear();
        pending.resize(chains.len(), None);
        chains.par_iter_mut().zip(gs.par_chunks_mut(d)).zip(evals).zip(pending.par_iter_mut()).for_each(|(((l, g), e), p)| {
            if let Begun::Evaluate(w) = l.begin(exp, *e, g) {
                *p = Some(w);
            }
        });
        let mut waiting: Vec<(&mut Live<T>, Pending)> = chains.into_iter().zip(&pending).filter_map(|(l, p)| p.map(|p| (l, p))).collect();
        if !waiting.is_empty() {
            let (gs, evals) = rows.call(waiting.len(), |k| &waiting[k].0.x, block, batch, d)?;
            waiting.par_iter_mut().zip(gs.par_chunks_mut(d)).zip(evals).for_each(|(((l, w), g), e)| {
                l.stepper.finish(*w, *e, l.chain, &mut l.x, g, &mut l.st);
            });
        }
        if let Some(e) = batch.take_error() {
            return Err(e);
        }
    }
}

/// The arrays of a call, kept from call to call (a block's steps reuse them).
struct Rows<T: Real> {
    xs: Vec<T>,
    gs: Vec<T>,
    evals: Vec<Eval<T>>,
}

impl<T: Real> Default for Rows<T> {
    fn default() -> Self {
        Rows { xs: Vec::new(), gs: Vec::new(), evals: Vec::new() }
    }
}

impl<T: Real> Rows<T> {
    /// Evaluates `n` points, point k `x(k)`, of a block of `block` chains in one call, padded to
    /// [`padded`] rows; answers the n gradients (rows of d) and values.
    fn call<'x>(&mut self, n: usize, x: impl Fn(usize) -> &'x [T] + Sync, block: usize, batch: &dyn Batch, d: usize) -> Result<(&mut [T], &[Eval<T>]), Error> {
        let rows = padded(n, block);
        // The arrays only grow: a block's calls take at most its rows.
        if self.evals.len() < rows {
            self.xs.resize(rows * d, T::zero());
            self.gs.resize(rows * d, T::zero());
            self.evals.resize(rows, Eval::outside());
        }
        let (xs, gs, evals) = (&mut self.xs[..rows * d], &mut self.gs[..rows * d], &mut self.evals[..rows]);
        // Rows past the n points repeat the first one; their results are not used.
        xs.par_chunks_mut(d).enumerate().for_each(|(k, dst)| dst.copy_from_slice(x(if k < n { k } else { 0 })));
        T::eval_batch(batch, xs, gs, evals)?;
        Ok((&mut self.gs[..n * d], &self.evals[..n]))
    }
}

/// Rows of a call for `n` stepping chains of a block of `block`: n rounded up to a power of two,
/// at most the block. A compiled function (JAX's jit) is compiled once per shape it sees: this
/// way a block shows it about log2(block) shapes as its chains finish, not one per count, at the
/// cost of evaluating at most twice the rows needed.
fn padded(n: usize, block: usize) -> usize {
    n.next_power_of_two().min(block).max(n)
}

#[cfg(test)]
mod tests;
