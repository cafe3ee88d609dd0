//! The CPU backend's batched path, for objectives with [`Batch`] (an embedder's oracle, whose
//! cost is the call): each step gathers the block's stepping chains into one n x d array,
//! evaluates them in one call and steps each chain with its row, in parallel. The step is the
//! scalar [`crate::kernel::Stepper::step`] (the reference the lockstep path is held to), so a
//! batch whose rows are the one-point evaluation gives every chain the bits of the scalar path.

use super::Live;
use crate::Error;
use crate::experiment::Experiment;
use crate::kernel::Real;
use crate::objective::{Batch, Eval};
use rayon::prelude::*;

/// Steps the block `live` until step `target`, their ends, or divergence, with one call of
/// `batch` per step; ends with the batch's error (or one a one-point evaluation inside a step
/// met, e.g. after a kick) as soon as there is one.
pub(super) fn advance<T: Real>(live: &mut [Live<T>], exp: &Experiment, batch: &dyn Batch, target: u32) -> Result<(), Error> {
    let d = exp.objective.dim().max(1);
    let (mut xs, mut gs, mut evals) = (Vec::new(), Vec::new(), Vec::new());
    let mut stepping = Vec::with_capacity(live.len());
    let mut row: Vec<Option<usize>> = vec![None; live.len()];
    loop {
        stepping.clear();
        for (i, (r, l)) in row.iter_mut().zip(live.iter()).enumerate() {
            *r = l.stepping(target).then_some(stepping.len());
            if r.is_some() {
                stepping.push(i);
            }
        }
        let Some(&first) = stepping.first() else { return Ok(()) };
        let rows = padded(stepping.len(), live.len());
        xs.resize(rows * d, T::zero());
        gs.resize(rows * d, T::zero());
        evals.resize(rows, Eval::outside());
        // Rows past the stepping chains repeat the first one; their results are not used.
        xs.par_chunks_mut(d).enumerate().for_each(|(k, dst)| dst.copy_from_slice(&live[*stepping.get(k).unwrap_or(&first)].x));
        T::eval_batch(batch, &xs, &mut gs, &mut evals)?;
        live.par_iter_mut().zip(row.par_iter()).for_each(|(l, r)| {
            if let Some(k) = *r {
                l.g.copy_from_slice(&gs[k * d..(k + 1) * d]);
                l.step(exp, evals[k]);
            }
        });
        if let Some(e) = batch.take_error() {
            return Err(e);
        }
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
