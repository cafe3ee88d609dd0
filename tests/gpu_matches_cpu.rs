//! The GPU kernel against its CPU twin: random streams exactly, trajectories to a tolerance,
//! escape-time distributions by a two-sample KS test.

mod common;

use common::{first_escape_times, gpu, objective};
use escapade::advanced::philox_blocks;
use escapade::stats::ks_two_sample;
use escapade::rng;
use escapade::{Experiment, Init, MethodKind, ObjectiveSpec, Runner};

#[test]
fn philox_stream_on_the_gpu_equals_the_cpu_stream() {
    let Some(engine) = gpu() else { return };
    let key = rng::seed_key(0x0123_4567_89ab_cdef);
    let mut counters: Vec<[u32; 4]> = (0..4096u32).map(|i| [i, i.wrapping_mul(2_654_435_761), i % 3, i / 7]).collect();
    counters.push([u32::MAX; 4]);
    let out = philox_blocks(engine.context(), key, &counters).unwrap();
    let mut worst = 0.0f32;
    for (c, o) in counters.iter().zip(&out) {
        let w = rng::philox4x32_10(*c, key);
        assert_eq!(o.words, w, "counter {c:?}");
        let cpu = [rng::normal_pair(w[0], w[1]), rng::normal_pair(w[2], w[3])].concat();
        for (a, b) in o.normals.iter().zip(&cpu) {
            worst = worst.max((a - b).abs() / (1.0 + b.abs()));
        }
    }
    // Transcendentals (log, cos, sin) may differ by a few ulps between devices.
    assert!(worst < 1e-5, "normals differ by {worst} (relative)");
    // The known-answer vectors hold on the device too.
    let kat = philox_blocks(engine.context(), [u32::MAX; 2], &[[u32::MAX; 4]]).unwrap();
    assert_eq!(kat[0].words, [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
}

#[test]
fn gd_on_the_quartic_follows_the_cpu_trajectory_for_100_steps() {
    let Some(engine) = gpu() else { return };
    let q = ObjectiveSpec::Quartic { eigenvalues: vec![-1.0, 1.0, 0.5, 2.0, 1.0, 1.0, 3.0, 1.0] }.build().unwrap();
    let exp = Experiment::builder(q)
        .method(MethodKind::Gd)
        .chains(256)
        .steps(101)
        .seed(9)
        .init(Init::Uniform(0.5))
        .trace(64, 1)
        .build()
        .unwrap();
    let engine = engine.tuned(escapade::GpuSettings { steps_per_dispatch: Some(13), ..Default::default() }).unwrap();
    let g = Runner::gpu(&engine).run(&exp).unwrap();
    let c = Runner::cpu().run(&exp).unwrap();
    let mut worst = 0.0f64;
    for chain in 0..64 {
        for slot in 0..=100 {
            let a = g.raw.trace_point(&exp, chain, slot).unwrap();
            let b = c.raw.trace_point(&exp, chain, slot).unwrap();
            let diff: f64 = a.iter().zip(b).map(|(u, v)| f64::from(u - v).powi(2)).sum::<f64>().sqrt();
            let norm: f64 = b.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
            worst = worst.max(diff / norm.max(1e-6));
        }
    }
    println!("GD quartic: worst relative trajectory difference over 64 chains x 100 steps: {worst:e}");
    assert!(worst <= 1e-5, "trajectories differ by {worst}");
    // The trajectories actually moved: the negative direction grew away from the saddle.
    let start = c.raw.trace_point(&exp, 0, 0).unwrap()[0].abs();
    let end = c.raw.trace_point(&exp, 0, 100).unwrap()[0].abs();
    assert!(end > start, "x_1 did not grow: {start} -> {end}");
}

#[test]
fn pgd_escape_times_on_the_toy_saddle_match_in_distribution() {
    let Some(engine) = gpu() else { return };
    let exp = Experiment::builder(objective("toy-saddle", 2))
        .method(MethodKind::Pgd)
        .chains(4096)
        .steps(400)
        .seed(2024)
        .init(Init::Zero)
        .build()
        .unwrap();
    let g = Runner::gpu(&engine).run(&exp).unwrap();
    let c = Runner::cpu().run(&exp).unwrap();
    let (tg, tc) = (first_escape_times(&g), first_escape_times(&c));
    assert!(tg.len() >= 4000 && tc.len() >= 4000, "escapes: gpu {} cpu {}", tg.len(), tc.len());
    let (d, p) = ks_two_sample(&tg, &tc);
    println!(
        "toy saddle PGD, 4096 chains: KS D = {d:.4}, p = {p:.3}; median escape gpu {:?} cpu {:?}",
        g.escape_time.median, c.escape_time.median
    );
    assert!(p > 0.01, "KS rejects equality: D = {d}, p = {p}");
    // A shifted sample is rejected by the same test: the check has power.
    let shifted: Vec<f64> = tc.iter().map(|t| t + 3.0).collect();
    assert!(ks_two_sample(&tg, &shifted).1 < 0.01);
}
