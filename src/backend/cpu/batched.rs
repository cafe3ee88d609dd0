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
    let mut rows = Rows::default();
    // Each chain's row in the call of the current phase (None: it takes no part in it), and
    // where its step waits after the first phase.
    let mut row: Vec<Option<usize>> = vec![None; live.len()];
    let mut pending: Vec<Option<Pending>> = vec![None; live.len()];
    loop {
        rows.assign(&mut row, |i| live[i].stepping(target));
        if rows.chains.is_empty() {
            return Ok(());
        }
        rows.call(live, batch, d)?;
        let (gs, evals) = (&rows.gs, &rows.evals);
        live.par_iter_mut().zip(row.par_iter()).zip(pending.par_iter_mut()).for_each(|((l, r), p)| {
            *p = None;
            if let Some(k) = *r {
                l.g.copy_from_slice(&gs[k * d..(k + 1) * d]);
                if let Begun::Evaluate(w) = l.begin(exp, evals[k]) {
                    *p = Some(w);
                }
            }
        });
        rows.assign(&mut row, |i| pending[i].is_some());
        if !rows.chains.is_empty() {
            rows.call(live, batch, d)?;
            let (gs, evals) = (&rows.gs, &rows.evals);
            live.par_iter_mut().zip(row.par_iter()).zip(pending.par_iter()).for_each(|((l, r), p)| {
                if let (Some(k), Some(w)) = (*r, *p) {
                    l.g.copy_from_slice(&gs[k * d..(k + 1) * d]);
                    l.stepper.finish(w, evals[k], l.chain, &mut l.x, &mut l.g, &mut l.st);
                }
            });
        }
        if let Some(e) = batch.take_error() {
            return Err(e);
        }
    }
}

/// The arrays of a call, kept from call to call (a block's steps reuse them).
struct Rows<T: Real> {
    /// The chains evaluated, by index in the block: row k is chain `chains[k]`.
    chains: Vec<usize>,
    xs: Vec<T>,
    gs: Vec<T>,
    evals: Vec<Eval<T>>,
}

impl<T: Real> Default for Rows<T> {
    fn default() -> Self {
        Rows { chains: Vec::new(), xs: Vec::new(), gs: Vec::new(), evals: Vec::new() }
    }
}

impl<T: Real> Rows<T> {
    /// Gives the chains `i` of the block for which `take(i)` holds consecutive rows, and
    /// `row[i]` their row (None for the others).
    fn assign(&mut self, row: &mut [Option<usize>], take: impl Fn(usize) -> bool) {
        self.chains.clear();
        for (i, r) in row.iter_mut().enumerate() {
            *r = take(i).then_some(self.chains.len());
            if r.is_some() {
                self.chains.push(i);
            }
        }
    }

    /// Evaluates the rows' chains at their points in one call, padded to [`padded`] rows.
    fn call(&mut self, live: &[Live<T>], batch: &dyn Batch, d: usize) -> Result<(), Error> {
        let n = padded(self.chains.len(), live.len());
        self.xs.resize(n * d, T::zero());
        self.gs.resize(n * d, T::zero());
        self.evals.resize(n, Eval::outside());
        // Rows past the chains repeat the first one; their results are not used.
        let (chains, first) = (&self.chains, self.chains[0]);
        self.xs[..n * d].par_chunks_mut(d).enumerate().for_each(|(k, dst)| dst.copy_from_slice(&live[*chains.get(k).unwrap_or(&first)].x));
        T::eval_batch(batch, &self.xs[..n * d], &mut self.gs[..n * d], &mut self.evals[..n])
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
