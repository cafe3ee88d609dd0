use escapade::*;
fn main() {
    let obj = ObjectiveSpec::from_name("octopus", 5).unwrap().build().unwrap();
    let steps: u32 = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(3000);
    let chains: u32 = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(256);
    let exp = Experiment::builder(obj).chains(chains).steps(steps).init(Init::Uniform(1.0)).trace(1, 1).build().unwrap();
    let g = exp.run(BackendChoice::Gpu).unwrap();
    let c = exp.run(BackendChoice::Cpu).unwrap();
    println!(" gpu {:?}\n cpu {:?}", g.raw.states[0], c.raw.states[0]);
    for s in (0..steps as usize).step_by(1) {
        let a = g.raw.trace_point(&exp, 0, s).unwrap();
        let b = c.raw.trace_point(&exp, 0, s).unwrap();
        let d: f32 = a.iter().zip(b).map(|(u, v)| (u - v).abs()).fold(0.0, f32::max);
        if d > 0.1 || s % 200 == 0 { println!("{s} {d} {a:?} {b:?}"); if d > 0.1 {break;} }
    }
}
