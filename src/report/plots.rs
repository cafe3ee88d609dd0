//! Plots with plotters: survival curves and runtime ECDFs of several runs overlaid, escape-time histograms,
//! value-versus-step traces and 2-D trajectories over the objective's level sets. SVG by
//! default, PNG when the file name ends in .png. Text needs a TrueType font, found on the system
//! (DejaVu Sans, or the file named by ESCAPADE_FONT).

use crate::Error;
use crate::objective::Objective;
use crate::stats::survival::{Bin, Curve};
use plotters::coord::Shift;
use plotters::coord::combinators::{BindKeyPoints, LogCoord, WithKeyPoints};
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// Series colours, in order.
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
];

const FONT_PATHS: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a system font with plotters once; plots need one to lay out text.
fn font() -> Result<(), Error> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let candidates = std::env::var("ESCAPADE_FONT").into_iter().chain(FONT_PATHS.iter().map(|s| s.to_string()));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                // plotters keeps fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err("plots need a TrueType font: install fonts-dejavu-core or set ESCAPADE_FONT to a .ttf file".into())
    })
    .clone()
    .map_err(Error::Unsupported)
}

fn plot_err(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |e| Error::Io { path: path.display().to_string(), source: std::io::Error::other(e) }
}

/// Draws with `$draw(root, args...)` on an SVG or PNG backend chosen by `$path`'s extension.
macro_rules! render {
    ($path:expr, $draw:ident ( $($arg:expr),* )) => {{
        font()?;
        let path: &Path = $path;
        let size = (900u32, 600u32);
        let png = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
        let result = if png {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            $draw(&root, $($arg),*).and_then(|_| root.present().map_err(|e| e.to_string()))
        } else {
            let root = SVGBackend::new(path, size).into_drawing_area();
            $draw(&root, $($arg),*).and_then(|_| root.present().map_err(|e| e.to_string()))
        };
        result.map_err(plot_err(path))
    }};
}

type Res = Result<(), String>;

/// A log axis from `lo` to `hi` (both > 0) with [`log_ticks`]' tick marks.
fn log_axis(lo: f64, hi: f64) -> WithKeyPoints<LogCoord<f64>> {
    let (bold, light) = log_ticks(lo, hi);
    (lo..hi).log_scale().with_key_points(bold).with_light_points(light)
}

/// Labelled and light tick marks of a log axis from `lo` to `hi`: the powers of ten, every k-th
/// one when there are more than eight (light grid lines at the others); 1, 2 and 5 times them
/// when fewer than three powers fall inside (light lines at every integer multiple). Plotters'
/// own choice labels 2, 3, ..., 9 in every decade of a short axis, which crowds them.
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let inside = |v: &f64| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9);
    let (e0, e1) = ((lo.log10() - 1e-9).ceil() as i32, (hi.log10() + 1e-9).floor() as i32);
    let powers: Vec<i32> = (e0..=e1).collect();
    let pow = |e: i32| 10f64.powi(e);
    let (bold, light): (Vec<f64>, Vec<f64>) = if powers.len() < 3 {
        let bold = (e0 - 1..=e1).flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * pow(e))).filter(inside).collect();
        let light = (e0 - 1..=e1).flat_map(|e| (1..10).map(move |m| f64::from(m) * pow(e))).filter(inside).collect();
        (bold, light)
    } else {
        let step = powers.len().div_ceil(8);
        let bold = powers.iter().filter(|&&e| ((e - e0) as usize).is_multiple_of(step)).map(|&e| pow(e)).collect();
        let light = if step == 1 {
            (e0 - 1..=e1).flat_map(|e| (2..10).map(move |m| f64::from(m) * pow(e))).filter(inside).collect()
        } else {
            powers.iter().filter(|&&e| !((e - e0) as usize).is_multiple_of(step)).map(|&e| pow(e)).collect()
        };
        (bold, light)
    };
    if bold.len() < 2 {
        return (vec![lo, hi], light);
    }
    (bold, light)
}

/// A tick label as a paper prints it: 1, 10, 100, 0.5, 2.5e-5; never 10.0 or 0.30000000000000004.
fn tick(v: &f64) -> String {
    let v = *v;
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { v.to_string() };
    }
    let trim = |s: String| if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        // Six significant digits, then the trailing zeros go.
        let decimals = (5 - a.log10().floor() as i32).max(0) as usize;
        trim(format!("{v:.decimals$}"))
    } else {
        let s = format!("{v:.5e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        format!("{}e{exp}", trim(mantissa.to_string()))
    }
}

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The chart frame every plot shares: the title, margins and label areas.
fn frame<'a, 'b, DB: DrawingBackend>(root: &'a DrawingArea<DB, Shift>, title: &str) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(root);
    builder.caption(title, ("sans-serif", 24)).margin(15).margin_right(35).x_label_area_size(45).y_label_area_size(60);
    builder
}

/// Survival curves S(t) of several runs overlaid (log time axis, Greenwood 95% bands dashed).
pub fn survival(path: &Path, title: &str, curves: &[(String, Curve)]) -> Result<(), Error> {
    render!(path, draw_survival(title, curves))
}

fn draw_survival<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, curves: &[(String, Curve)]) -> Res {
    root.fill(&WHITE).map_err(s)?;
    let tmax = curves.iter().flat_map(|(_, c)| c.points.last().map(|p| p.t)).max().unwrap_or(1).max(2);
    let mut chart = frame(root, title)
        .build_cartesian_2d(log_axis(1.0, f64::from(tmax) * 1.5), 0f64..1.02)
        .map_err(s)?;
    chart.configure_mesh().x_label_formatter(&tick).y_label_formatter(&tick).x_desc("steps since the stall (log)").y_desc("fraction not yet escaped").draw().map_err(s)?;
    for (k, (name, curve)) in curves.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let step = |f: fn(&crate::stats::survival::CurvePoint) -> f64| {
            let mut pts = vec![(1.0, 1.0)];
            let mut prev = 1.0;
            for p in &curve.points {
                let t = f64::from(p.t.max(1));
                pts.push((t, prev));
                pts.push((t, f(p)));
                prev = f(p);
            }
            pts.push((f64::from(tmax) * 1.5, prev));
            pts
        };
        chart
            .draw_series(LineSeries::new(step(|p| p.survival), color.stroke_width(2)))
            .map_err(s)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        for band in [step(|p| p.lower), step(|p| p.upper)] {
            chart.draw_series(DashedLineSeries::new(band, 4, 4, color.mix(0.5).stroke_width(1))).map_err(s)?;
        }
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(s)?;
    Ok(())
}

/// Empirical cumulative distributions of the running time to escape, overlaid (log time axis):
/// each curve the fraction of its saddle stalls escaped by t, as [`crate::stats::ecdf`] gives it,
/// drawn as a step from 0 and held to `t_end` (the longest episode shown), where a curve below 1
/// is the share of stalls that never escaped. IOHprofiler's and COCO's runtime ECDF.
pub fn ecdf(path: &Path, title: &str, curves: &[(String, Vec<(u32, f64)>)], t_end: u32) -> Result<(), Error> {
    render!(path, draw_ecdf(title, curves, t_end))
}

fn draw_ecdf<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, curves: &[(String, Vec<(u32, f64)>)], t_end: u32) -> Res {
    root.fill(&WHITE).map_err(s)?;
    let last = curves.iter().flat_map(|(_, c)| c.last().map(|p| p.0)).max().unwrap_or(1);
    // Time 0 sits at 1 on the log axis, as in the survival plot.
    let right = f64::from(t_end.max(last).max(2)) * 1.5;
    let mut chart = frame(root, title).build_cartesian_2d(log_axis(1.0, right), 0f64..1.02).map_err(s)?;
    chart.configure_mesh().x_label_formatter(&tick).y_label_formatter(&tick).x_desc("steps since the stall (log)").y_desc("fraction of saddle stalls escaped").draw().map_err(s)?;
    for (k, (name, points)) in curves.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let mut line = vec![(1.0, 0.0)];
        let mut prev = 0.0;
        for &(t, f) in points {
            let t = f64::from(t.max(1));
            line.push((t, prev));
            line.push((t, f));
            prev = f;
        }
        line.push((right, prev));
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(s)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().position(SeriesLabelPosition::UpperLeft).background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(s)?;
    Ok(())
}

/// Histogram of observed escape times in logarithmic bins.
pub fn histogram(path: &Path, title: &str, bins: &[Bin]) -> Result<(), Error> {
    render!(path, draw_histogram(title, bins))
}

fn draw_histogram<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, bins: &[Bin]) -> Res {
    root.fill(&WHITE).map_err(s)?;
    let hi = bins.iter().map(|b| b.hi).fold(2.0, f64::max);
    let top = bins.iter().map(|b| b.count).max().unwrap_or(1) as f64 * 1.1;
    let mut chart = frame(root, title)
        .build_cartesian_2d(log_axis(0.5, hi), 0f64..top.max(1.0))
        .map_err(s)?;
    chart.configure_mesh().x_label_formatter(&tick).y_label_formatter(&tick).x_desc("escape time, steps (log bins)").y_desc("escapes").draw().map_err(s)?;
    chart
        .draw_series(bins.iter().map(|b| Rectangle::new([(b.lo.max(0.5), 0.0), (b.hi, b.count as f64)], COLORS[0].mix(0.7).filled())))
        .map_err(s)?
        .label("escapes")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], COLORS[0].filled()));
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(s)?;
    Ok(())
}

/// Chains per accuracy bin on [0, 1], one series of bars per set (training, held out), drawn
/// side by side within each bin.
pub fn accuracy(path: &Path, title: &str, series: &[(String, Vec<Bin>)]) -> Result<(), Error> {
    render!(path, draw_accuracy(title, series))
}

fn draw_accuracy<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, series: &[(String, Vec<Bin>)]) -> Res {
    root.fill(&WHITE).map_err(s)?;
    let top = series.iter().flat_map(|(_, b)| b.iter().map(|b| b.count)).max().unwrap_or(1) as f64 * 1.1;
    let mut chart = frame(root, title)
        .build_cartesian_2d(0f64..1f64, 0f64..top.max(1.0))
        .map_err(s)?;
    chart.configure_mesh().y_label_formatter(&tick).x_desc("accuracy at the resting point").y_desc("chains").draw().map_err(s)?;
    let k = series.len().max(1) as f64;
    for (i, (name, bins)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let part = |b: &Bin, j: f64| b.lo + (b.hi - b.lo) * j / k;
        chart
            .draw_series(bins.iter().map(|b| Rectangle::new([(part(b, i as f64), 0.0), (part(b, i as f64 + 1.0), b.count as f64)], color.mix(0.7).filled())))
            .map_err(s)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled()));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(s)?;
    Ok(())
}

/// One series of a tuning plot: its name and (x, value, lower, upper) points.
pub type TunePoints = (String, Vec<(f64, f64, f64, f64)>);

/// A tuned statistic against one tuned parameter: one series of points with interval bars per
/// rung. Log axes where every value is positive and they span more than a decade; a point
/// whose value is infinite (a statistic the run could not give) is a hollow triangle on the
/// plot's worse edge, bars are clipped to the plot.
pub fn tune(path: &Path, title: &str, axes: (&str, &str), series: &[TunePoints]) -> Result<(), Error> {
    render!(path, draw_tune(title, axes, series))
}

fn draw_tune<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, (x_desc, y_desc): (&str, &str), series: &[TunePoints]) -> Res {
    root.fill(&WHITE).map_err(s)?;
    let finite = |v: &f64| v.is_finite();
    let xs: Vec<f64> = series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)).filter(finite).collect();
    let ys: Vec<f64> = series.iter().flat_map(|(_, p)| p.iter().flat_map(|q| [q.1, q.2, q.3])).filter(finite).collect();
    let range = |v: &[f64]| v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let ((x0, x1), (y0, y1)) = (range(&xs), range(&ys));
    if !(x0.is_finite() && y0.is_finite()) {
        return root.titled(&format!("{title}: no finite values"), ("sans-serif", 24)).map(|_| ()).map_err(s);
    }
    let log = |lo: f64, hi: f64| lo > 0.0 && hi > 10.0 * lo;
    let pad = |lo: f64, hi: f64, log: bool| if log { (lo / 1.5, hi * 1.5) } else { let m = ((hi - lo) * 0.05).max(lo.abs() * 0.05).max(1e-12); (lo - m, hi + m) };
    let ((x0, x1), (y0, y1)) = (pad(x0, x1, log(x0, x1)), pad(y0, y1, log(y0, y1)));
    // Four coordinate types, one drawing: the series are drawn by one generic closure.
    macro_rules! with_chart {
        ($xs:expr, $ys:expr) => {{
            let mut chart = frame(root, title).build_cartesian_2d($xs, $ys).map_err(s)?;
            chart.configure_mesh().x_label_formatter(&tick).y_label_formatter(&tick).x_desc(x_desc).y_desc(y_desc).draw().map_err(s)?;
            for (k, (name, points)) in series.iter().enumerate() {
                let color = COLORS[k % COLORS.len()];
                let shown: Vec<_> = points.iter().filter(|q| q.0.is_finite() && q.1.is_finite()).collect();
                let clip = |v: f64| v.clamp(y0, y1);
                chart.draw_series(shown.iter().map(|q| PathElement::new(vec![(q.0, clip(q.2)), (q.0, clip(q.3))], color.stroke_width(2)))).map_err(s)?;
                chart
                    .draw_series(shown.iter().map(|q| Circle::new((q.0, q.1), 4, color.filled())))
                    .map_err(s)?
                    .label(name.clone())
                    .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
                // A candidate that could not give the statistic (no escape, a quantile not
                // reached) is not left out silently: a hollow triangle on the worse edge.
                let edge = if points.iter().any(|q| q.1 == f64::NEG_INFINITY) { y0 } else { y1 };
                chart.draw_series(points.iter().filter(|q| q.0.is_finite() && q.1.is_infinite()).map(|q| TriangleMarker::new((q.0, edge), 6, color.stroke_width(2)))).map_err(s)?;
            }
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(s)?;
        }};
    }
    match (log(x0 * 1.5, x1 / 1.5), log(y0 * 1.5, y1 / 1.5)) {
        (true, true) => with_chart!(log_axis(x0, x1), log_axis(y0, y1)),
        (true, false) => with_chart!(log_axis(x0, x1), y0..y1),
        (false, true) => with_chart!(x0..x1, log_axis(y0, y1)),
        (false, false) => with_chart!(x0..x1, y0..y1),
    }
    Ok(())
}

/// f(x_t) against t for a sample of chains (log step axis).
pub fn value_traces(path: &Path, title: &str, traces: &[(u32, Vec<(u32, f64)>)]) -> Result<(), Error> {
    render!(path, draw_traces(title, traces))
}

fn draw_traces<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, traces: &[(u32, Vec<(u32, f64)>)]) -> Res {
    root.fill(&WHITE).map_err(s)?;
    let all = traces.iter().flat_map(|(_, t)| t.iter()).filter(|p| p.1.is_finite());
    let (mut lo, mut hi, mut tmax) = (f64::MAX, f64::MIN, 1u32);
    for &(t, f) in all {
        lo = lo.min(f);
        hi = hi.max(f);
        tmax = tmax.max(t);
    }
    if lo > hi {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .margin_right(35)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(log_axis(1.0, f64::from(tmax + 2)), (lo - pad)..(hi + pad))
        .map_err(s)?;
    chart.configure_mesh().x_label_formatter(&tick).y_label_formatter(&tick).x_desc("step + 1 (log)").y_desc("f(x)").draw().map_err(s)?;
    for (k, (chain, t)) in traces.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let pts: Vec<(f64, f64)> = t.iter().filter(|p| p.1.is_finite()).map(|&(t, f)| (f64::from(t + 1), f)).collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(1)))
            .map_err(s)?
            .label(format!("chain {chain}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(s)?;
    Ok(())
}

/// 2-D trajectories over a shaded map of the objective's value (d = 2 only).
pub fn trajectories(path: &Path, title: &str, objective: &dyn Objective, paths: &[(u32, Vec<[f64; 2]>)]) -> Result<(), Error> {
    if objective.dim() != 2 || !objective.cpu_twin() {
        return Err(Error::invalid("trajectory plot", "a 2-D objective with a Rust evaluation", objective.name()));
    }
    render!(path, draw_trajectories(title, objective, paths))
}

fn draw_trajectories<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, objective: &dyn Objective, paths: &[(u32, Vec<[f64; 2]>)]) -> Res {
    root.fill(&WHITE).map_err(s)?;
    let pts = paths.iter().flat_map(|(_, p)| p.iter()).filter(|p| p[0].is_finite() && p[1].is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (-1.0f64, 1.0f64, -1.0f64, 1.0f64);
    for p in pts {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    let (px, py) = ((x1 - x0) * 0.1, (y1 - y0) * 0.1);
    let (x0, x1, y0, y1) = (x0 - px, x1 + px, y0 - py, y1 + py);
    let mut chart = frame(root, title)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(s)?;
    chart.configure_mesh().x_label_formatter(&tick).y_label_formatter(&tick).x_desc("x1").y_desc("x2").draw().map_err(s)?;
    // Value map: a grid of cells shaded by the rank of f, so level sets show at every scale.
    let n = 80;
    let mut g = [0.0; 2];
    let mut cells = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            let x = x0 + (x1 - x0) * (i as f64 + 0.5) / n as f64;
            let y = y0 + (y1 - y0) * (j as f64 + 0.5) / n as f64;
            cells.push((i, j, objective.eval_f64(&[x, y], &mut g).value));
        }
    }
    let mut sorted: Vec<f64> = cells.iter().map(|c| c.2).filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let rank = |v: f64| sorted.partition_point(|&u| u < v) as f64 / sorted.len().max(1) as f64;
    chart
        .draw_series(cells.iter().map(|&(i, j, v)| {
            let shade = if v.is_finite() { (235.0 - 120.0 * rank(v)) as u8 } else { 255 };
            let (cx0, cy0) = (x0 + (x1 - x0) * i as f64 / n as f64, y0 + (y1 - y0) * j as f64 / n as f64);
            let (cx1, cy1) = (x0 + (x1 - x0) * (i + 1) as f64 / n as f64, y0 + (y1 - y0) * (j + 1) as f64 / n as f64);
            Rectangle::new([(cx0, cy0), (cx1, cy1)], RGBColor(shade, shade, 255).filled())
        }))
        .map_err(s)?;
    for (k, (chain, p)) in paths.iter().enumerate() {
        let color = COLORS[(k + 1) % COLORS.len()];
        let line: Vec<(f64, f64)> = p.iter().map(|q| (q[0], q[1])).collect();
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(s)?
            .label(format!("chain {chain}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(s)?;
    Ok(())
}

/// The checker's picture: sampled (f - fmin, ||Hess f||) points, the empirical envelope
/// rho1_hat, and the fitted and declared rho1 curves (log-log).
pub fn envelope(
    path: &Path,
    title: &str,
    points: &[(f64, f64)],
    fmin: f64,
    curves: &[(String, crate::method::Rho)],
) -> Result<(), Error> {
    render!(path, draw_envelope(title, points, fmin, curves))
}

fn draw_envelope<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    points: &[(f64, f64)],
    fmin: f64,
    curves: &[(String, crate::method::Rho)],
) -> Res {
    root.fill(&WHITE).map_err(s)?;
    let gap = |f: f64| (f - fmin).max(1e-12);
    let xs: Vec<f64> = points.iter().map(|p| gap(p.0)).collect();
    let (x0, x1) = (xs.iter().cloned().fold(f64::MAX, f64::min).max(1e-12), xs.iter().cloned().fold(1e-11, f64::max));
    let (y0, y1) = (points.iter().map(|p| p.1).fold(f64::MAX, f64::min).max(1e-9), points.iter().map(|p| p.1).fold(1e-8, f64::max));
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .margin_right(35)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(log_axis(x0 * 0.5, x1 * 2.0), log_axis(y0 * 0.5, y1 * 2.0))
        .map_err(s)?;
    chart.configure_mesh().x_label_formatter(&tick).y_label_formatter(&tick).x_desc("f - f_min (log)").y_desc("||Hess f|| (log)").draw().map_err(s)?;
    chart
        .draw_series(points.iter().map(|&(f, h)| Circle::new((gap(f), h.max(y0)), 2, COLORS[0].mix(0.4).filled())))
        .map_err(s)?
        .label("sampled points")
        .legend(|(x, y)| Circle::new((x + 10, y), 3, COLORS[0].filled()));
    let mut env: Vec<(f64, f64)> = points.to_vec();
    env.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best = 0.0f64;
    let env: Vec<(f64, f64)> = env.into_iter().map(|(f, h)| { best = best.max(h); (gap(f), best.max(y0)) }).collect();
    chart
        .draw_series(LineSeries::new(env, COLORS[1].stroke_width(2)))
        .map_err(s)?
        .label("envelope rho1_hat(F)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], COLORS[1].stroke_width(2)));
    for (k, (name, rho)) in curves.iter().enumerate() {
        let color = COLORS[(k + 2) % COLORS.len()];
        let line: Vec<(f64, f64)> = (0..=200)
            .map(|i| {
                let g = x0 * 0.5 * ((x1 * 4.0) / (x0 * 0.5)).powf(f64::from(i) / 200.0);
                (g, rho.eval(fmin + g).max(y0 * 0.5))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(s)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(s)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::tick;

    #[test]
    fn ticks_read_like_a_papers() {
        let cases = [
            (1.0, "1"), (10.0, "10"), (100.0, "100"), (1000.0, "1000"), (0.0, "0"), (0.5, "0.5"), (0.30000000000000004, "0.3"),
            (250.0, "250"), (-2.0, "-2"), (1e-5, "1e-5"), (2.5e-7, "2.5e-7"), (1e6, "1e6"), (1e12, "1e12"), (0.001, "0.001"),
            (12345.0, "12345"), (100000.0, "1e5"), (150000.0, "1.5e5"), (1e-12, "1e-12"),
        ];
        for (v, want) in cases {
            assert_eq!(tick(&v), want, "{v}");
        }
    }

    #[test]
    fn log_axes_label_powers_of_ten_without_crowding() {
        let labels = |lo, hi| super::log_ticks(lo, hi).0.iter().map(tick).collect::<Vec<_>>();
        assert_eq!(labels(1.0, 1500.0), ["1", "10", "100", "1000"]);
        assert_eq!(labels(0.5, 45.0), ["0.5", "1", "2", "5", "10", "20"]);
        assert_eq!(labels(1.0, 3.0), ["1", "2"]);
        assert_eq!(labels(5e-13, 2e11), ["1e-12", "1e-9", "1e-6", "0.001", "1", "1000", "1e6", "1e9"]);
        assert_eq!(labels(1.2, 1.8).len(), 2);
    }
}
