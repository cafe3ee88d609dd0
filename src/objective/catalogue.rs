//! The catalogue of built-in objectives: one row each, as wgpu's `EXAMPLES` and ripgrep's `Flag`
//! tables are, read by everything that lists, parses or tests objectives: `escapade list`, the
//! `--objective` and objective flags' `--help`, [`ObjectiveSpec::from_name`], the Python
//! package's `escapade.objectives()`, the naga validation of every composed kernel and the
//! GPU-against-CPU test matrix. Adding an objective is its file pair (`foo.rs`, `foo.wgsl`), a
//! variant of [`ObjectiveSpec`] with its build arm, and a row here
//! (docs/adding-an-objective.md).

mod flags;
#[cfg(test)]
mod tests;

pub use flags::{DEFAULT_DIM, Flag, Given, Kind, Value};

use super::dataset::SHIPPED;
use super::{Activation, DataSource, ExprSpec, Loss, ObjectiveSpec, Quartic, data};
use crate::Error;

/// How an objective's dimension d follows from `--dim`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    /// d is fixed (the toy saddle's 2); `--dim` may only repeat it.
    Fixed(usize),
    /// d = `--dim` (default [`DEFAULT_DIM`]), at least this.
    AtLeast(usize),
    /// `--dim` is this size (>= 1, default [`DEFAULT_DIM`]), from which d follows (a matrix
    /// factorization's n: d = n r).
    Size(&'static str),
    /// d follows from this flag (a network's `layers`); `--dim` is refused.
    From(&'static str),
}

impl Dim {
    /// The rule in words, as `escapade list` and `--help` write it.
    pub fn describe(self) -> String {
        match self {
            Dim::Fixed(n) => format!("d = {n}"),
            Dim::AtLeast(min) => format!("--dim >= {min} ({DEFAULT_DIM})"),
            Dim::Size(what) => format!("--dim {what} >= 1 ({DEFAULT_DIM})"),
            Dim::From(flag) => format!("d from --{flag}"),
        }
    }
}

/// One built-in objective.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// The name `--objective` takes, which the objective's `name()` and the serde tag of its
    /// [`ObjectiveSpec`] variant repeat.
    pub name: &'static str,
    /// One line: f, and what the label counts.
    pub doc: &'static str,
    /// How d follows from `--dim`.
    pub dim: Dim,
    /// The objective's own flags (`--dim`, `--data` and `--data-seed` are everyone's); any other
    /// objective flag given with it is refused.
    pub flags: &'static [Flag],
    /// The flags' ranges and defaults, one line, as `escapade list` prints them.
    pub usage: &'static str,
    /// The data it reads from files or arrays, in order (none: `--data` is refused); a name
    /// ending in `?` is optional and may be left off the end ([`required_data`]).
    pub data: &'static [&'static str],
    /// The specification the given flags describe, defaults for the rest (the dimension rule
    /// already checked).
    pub from_flags: fn(&Given) -> Result<ObjectiveSpec, Error>,
    /// The `--dim` values the tests build it at: naga validates every composed kernel at each,
    /// and the GPU runs against the CPU twin at the first (a rule without `--dim` lists one,
    /// unused).
    pub tests: &'static [usize],
}

impl Entry {
    /// The specification `given` describes: the dimension rule checked, then the row's builder.
    pub fn spec(&self, given: &Given) -> Result<ObjectiveSpec, Error> {
        let name = self.name;
        match (self.dim, given.dim) {
            (Dim::From(flag), Some(d)) => {
                return Err(Error::invalid("dim", format!("no --dim with --objective {name} (--{flag} sets the dimension)"), d));
            }
            (Dim::From(_), None) | (_, None) => {}
            (_, Some(0)) => return Err(Error::invalid("dim", "an integer >= 1", 0)),
            (Dim::Fixed(n), Some(d)) if d != n => return Err(Error::invalid("dim", format!("{n} for {name}"), d)),
            (Dim::AtLeast(min), Some(d)) if d < min => return Err(Error::invalid("dim", format!("an integer >= {min} for {name}"), d)),
            _ => {}
        }
        (self.from_flags)(given)
    }

    /// Whether the objective reads the flag `name` (`data`: its data, files or a seed).
    pub fn reads(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f.name == name) || (name == "data" && !self.data.is_empty())
    }

    /// The dimension rule and the flags' usage, one line (`escapade list`'s second).
    pub fn usage_line(&self) -> String {
        let dim = self.dim.describe();
        if self.usage.is_empty() { dim } else { format!("{dim}; {}", self.usage) }
    }

    /// What an objective's `params()` (summary.json's `objective.params`) says of its flags, in
    /// dimension `dim`: enough to rebuild an objective without data, whose parameters are named
    /// as its flags.
    pub fn given_from_params(&self, dim: usize, params: &serde_json::Value) -> Given {
        let values = self.flags.iter().filter_map(|f| Some((f.name.to_string(), Value::from_json(f.kind, params.get(f.name)?)?))).collect();
        Given { dim: (!matches!(self.dim, Dim::From(_))).then_some(dim), values, ..Given::default() }
    }
}

/// The objective outside the catalogue, built from the user's WGSL (`--wgsl FILE`): its name and
/// doc line, for the lists that show it beside the rows.
pub const CUSTOM: (&str, &str) = ("custom", "your WGSL fn objective(x, g) -> Eval (GPU path only)");

/// The name and one-line doc of an objective given in memory by an embedder (Python's
/// `escapade.Oracle`): it has no command-line form.
pub const ORACLE: (&str, &str) = ("oracle", "a batched function given in memory (Python's escapade.Oracle; CPU path only)");

/// The row named `name`, or the error that lists the names.
pub fn entry(name: &str) -> Result<&'static Entry, Error> {
    CATALOGUE.iter().find(|e| e.name == name).ok_or_else(|| Error::invalid("objective", format!("one of {}", ObjectiveSpec::NAMES.join(", ")), name))
}

/// Every objective flag once, in the catalogue's order (a flag two rows read, such as `kappa`,
/// is one flag: the rows hold the same constant).
pub fn flags() -> Vec<&'static Flag> {
    let mut out: Vec<&'static Flag> = Vec::new();
    for f in CATALOGUE.iter().flat_map(|e| e.flags) {
        if !out.iter().any(|o| o.name == f.name) {
            out.push(f);
        }
    }
    out
}

/// The rows' names, in order, as a constant array ([`ObjectiveSpec::NAMES`]).
pub const fn names<const N: usize>() -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = CATALOGUE[i].name;
        i += 1;
    }
    out
}

/// The shipped data sets' names, which `--dataset` takes.
const DATASETS: [&str; SHIPPED.len()] = {
    let mut out = [""; SHIPPED.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = SHIPPED[i].name;
        i += 1;
    }
    out
};

// Flags more than one row reads are constants, so that both rows hold the same flag.
const RANK: Flag = Flag::new("rank", Kind::Count, "Matrix factorization / linear network: rank r (default 2)");
const KAPPA: Flag = Flag::new(
    "kappa",
    Kind::Number,
    "Linear network / network: kappa of kappa/4 sum ||W||^4 (linear network default 0.1, 0 its non-self-bounding case; network default 0)",
);

/// The expression objective's f and label without `--f`: the quartic with l = (-1, 1, ..., 1)
/// and its label (x0 has left its negative-curvature band).
pub const EXPR_DEFAULT: (&str, &str) = ("sum(i, 0.25*x[i]^4 + 0.5*x[i]^2) - x[0]^2", "3*x[0]^2 >= 1");

/// The built-in objectives, in the order `escapade list` shows them.
pub const CATALOGUE: &[Entry] = &[
    Entry {
        name: "toy-saddle",
        doc: "x^2/2 + y^4/4 - y^2/2; strict saddle at 0, minima (0, +-1)",
        dim: Dim::Fixed(2),
        flags: &[],
        usage: "",
        data: &[],
        from_flags: |_| Ok(ObjectiveSpec::ToySaddle),
        tests: &[2],
    },
    Entry {
        name: "quartic",
        doc: "1/2 sum l_i x_i^2 + 1/4 sum x_i^4",
        dim: Dim::AtLeast(1),
        flags: &[Flag::new("eigenvalues", Kind::Numbers, "Quartic eigenvalues, comma separated (sets the dimension); default -1,1,...,1").value_name("L1,L2,...")],
        usage: "--eigenvalues finite list (-1, 1, ..., 1)",
        data: &[],
        from_flags: quartic,
        tests: &[16, 1],
    },
    Entry {
        name: "octopus",
        doc: "Du et al. 2017: d saddles in a chain, labels = saddle index",
        dim: Dim::AtLeast(1),
        flags: &[
            Flag::new("tau", Kind::Number, "Octopus tau (default e)"),
            Flag::new("gamma", Kind::Number, "Octopus gamma (default 1)"),
            Flag::new("L", Kind::Number, "Octopus L (default 1)").alias("octopus-l"),
        ],
        usage: "--tau > 0 (e); --gamma > 0 (1); --L > 0 (1)",
        data: &[],
        from_flags: |g| {
            let (tau, gamma, l) = (g.number("tau").unwrap_or(std::f64::consts::E), g.number("gamma").unwrap_or(1.0), g.number("L").unwrap_or(1.0));
            Ok(ObjectiveSpec::Octopus { dim: g.dim(), tau, gamma, l })
        },
        tests: &[5, 1],
    },
    Entry {
        name: "phase-retrieval",
        doc: "1/(4m) sum ((a_i.x)^2 - y_i)^2; finite sum",
        dim: Dim::AtLeast(1),
        flags: &[Flag::new("m", Kind::Count, "Phase retrieval: number of measurements m (default 10 d)")],
        usage: "--m >= 1 (10 dim); --data-seed (0) or --data A.npy|csv,y.npy|csv[,x_star.npy|csv] (labels need x*)",
        data: &["A", "y", "x_star?"],
        from_flags: |g| Ok(ObjectiveSpec::PhaseRetrieval { dim: g.dim(), m: g.count("m").unwrap_or(10 * g.dim()), data: g.source() }),
        // 5: rows padded to vec4s; 32: the unrolled evaluation past its workgroup copy.
        tests: &[5, 4, 32],
    },
    Entry {
        name: "matrix-factorization",
        doc: "1/2 ||U U^T - M||_F^2, U n x r",
        dim: Dim::Size("n"),
        flags: &[RANK, Flag::new("spectrum", Kind::Numbers, "Matrix factorization: eigenvalues of the generated M, comma separated (n values)").value_name("S1,S2,...")],
        usage: "--rank in [1, n] (2); --spectrum n values (1 x r, 0 below) or --data M",
        data: &["M"],
        from_flags: |g| {
            let (n, spectrum) = (g.dim(), g.numbers("spectrum").map(<[f64]>::to_vec));
            Ok(ObjectiveSpec::MatrixFactorization { n, rank: g.count("rank").unwrap_or(n.min(2)), spectrum, data: g.source() })
        },
        tests: &[3],
    },
    Entry {
        name: "linear-network",
        doc: "1/2 ||W_L ... W_1 - Y||^2 + kappa/4 sum ||W_l||^4 (depth 2: W H); depth >= 3: label = singular values of Y learned",
        dim: Dim::Size("n"),
        flags: &[
            RANK,
            Flag::new("p", Kind::Count, "Linear network: columns p of Y (default n)"),
            Flag::new(
                "depth",
                Kind::Count,
                "Linear network: weight matrices L >= 2, hidden widths all --rank (default 2: W H; from 3 the origin is a saddle with no negative curvature)",
            ),
            KAPPA,
        ],
        usage: "--rank >= 1 (2), every hidden width; --p >= 1 (n); --depth >= 2 (2); --kappa >= 0 (0.1); or --data Y",
        data: &["Y"],
        from_flags: |g| {
            let n = g.dim();
            let (rank, p, kappa, depth) = (g.count("rank").unwrap_or(n.min(2)), g.count("p").unwrap_or(n), g.number("kappa").unwrap_or(0.1), g.count("depth").unwrap_or(2));
            Ok(ObjectiveSpec::LinearNetwork { n, rank, p, kappa, depth, data: g.source() })
        },
        tests: &[3],
    },
    Entry {
        name: "mlp",
        doc: "smooth MLP on a data set: (1/N) sum loss(net(X_r), y_r) + wd/2 ||W||^2 + kappa/4 sum ||W_l||^4; finite sum; label = classes predicted",
        dim: Dim::From("layers"),
        flags: &[
            Flag::new("dataset", Kind::Choice(&DATASETS), "Network: a shipped data set, wine or digits (default wine; `escapade list` shows them)"),
            Flag::new("layers", Kind::Counts, "Network: layer sizes, inputs first and classes last (default: inputs,8,classes)").value_name("N0,N1,..."),
            Flag::new("activation", Kind::Choice(&["tanh", "softplus", "gelu"]), "Network: hidden activation (default tanh; all smooth, as the Hessian checks need)"),
            Flag::new("loss", Kind::Choice(&["cross-entropy", "squared"]), "Network: loss (default cross-entropy)"),
            Flag::new("weight-decay", Kind::Number, "Network: L2 weight decay wd (default 0)"),
            KAPPA,
            Flag::new("holdout", Kind::Number, "Network: fraction of the rows held out, chosen from --data-seed (default 0)").value_name("FRACTION"),
            Flag::new("raw-features", Kind::Switch, "Network: features as given, not standardised by the training rows"),
        ],
        usage: "--dataset wine|digits (wine) or --data X,y; --layers N0,...,classes (inputs,8,classes); --activation tanh|softplus|gelu (tanh); --loss cross-entropy|squared; --weight-decay >= 0 (0); --kappa >= 0 (0); --holdout FRACTION (0) from --data-seed; --raw-features",
        data: &["X", "y"],
        from_flags: mlp,
        // Unused: the default layers (Wine 13-8-3, d = 139) set d.
        tests: &[DEFAULT_DIM],
    },
    Entry {
        name: "expr",
        doc: "your expression f(x), e.g. \"sum(i, 0.25*x[i]^4) - x0^2/2\"; gradient derived, both paths (docs/expressions.md)",
        dim: Dim::AtLeast(1),
        flags: &[
            Flag::new("f", Kind::Text, "Expression objective: f in x[i] (or x0, x1, ...), + - * / ^, exp log sqrt sin cos tanh abs, sum(i, ...), sum(i, a, b, ...) (default: the quartic written out)").value_name("EXPR"),
            Flag::new("label", Kind::Text, "Expression objective: the region label, a whole number >= 0 (e.g. \"abs(x1) > 0.5\"; default 0)").value_name("EXPR"),
        ],
        usage: "--f EXPR (the quartic); without --dim, one past the largest index of an f with no sum; --label EXPR; --f-min; --rho1/--rho2 A,B,P[,FMIN] (both or neither)",
        data: &[],
        from_flags: |g| {
            // Without --f, the quartic saddle written out, its label too: a demonstration, and
            // the case the tests hold against the built-in quartic.
            let (f, label, dim) = match g.text("f") {
                Some(f) => (f, g.text("label"), g.dim),
                None => (EXPR_DEFAULT.0, g.text("label").or(Some(EXPR_DEFAULT.1)), Some(g.dim())),
            };
            let label = label.map(str::to_string);
            Ok(ObjectiveSpec::Expr(ExprSpec { f: f.to_string(), dim, label, f_min: g.f_min, rho1: g.rho.0, rho2: g.rho.1 }))
        },
        tests: &[3],
    },
    Entry {
        name: "degenerate-quartic",
        doc: "1/4 (x^2 - y^2)^2; non-strict saddles, not self-bounding",
        dim: Dim::Fixed(2),
        flags: &[],
        usage: "",
        data: &[],
        from_flags: |_| Ok(ObjectiveSpec::DegenerateQuartic),
        tests: &[2],
    },
    Entry {
        name: "rosenbrock",
        doc: "sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2",
        dim: Dim::AtLeast(2),
        flags: &[],
        usage: "",
        data: &[],
        from_flags: |g| Ok(ObjectiveSpec::Rosenbrock { dim: g.dim() }),
        tests: &[4, 3],
    },
];

/// The quartic: `--eigenvalues` set d when `--dim` does not (and must agree with it when it does).
fn quartic(g: &Given) -> Result<ObjectiveSpec, Error> {
    let eigenvalues = match (g.numbers("eigenvalues"), g.dim) {
        (Some(e), Some(d)) if e.len() != d => return Err(Error::invalid("eigenvalues", format!("{d} values (one per dimension)"), e.len())),
        (Some(e), _) => e.to_vec(),
        (None, _) => {
            data::fits_host(Some(g.dim()), "--dim")?;
            Quartic::default_eigenvalues(g.dim())
        }
    };
    Ok(ObjectiveSpec::Quartic { eigenvalues })
}

/// The network: a shipped data set or the data given (not both); `--data-seed` chooses the
/// held-out rows, since a data set is not generated.
fn mlp(g: &Given) -> Result<ObjectiveSpec, Error> {
    if g.data.is_some() && g.word("dataset").is_some() {
        return Err(Error::invalid("dataset", "either --dataset or --data X,y", "both"));
    }
    Ok(ObjectiveSpec::Mlp {
        dataset: g.word("dataset").unwrap_or("wine").to_string(),
        layers: g.counts("layers").map(<[usize]>::to_vec).unwrap_or_default(),
        activation: word(g, "activation")?.unwrap_or(Activation::Tanh),
        loss: word(g, "loss")?.unwrap_or(Loss::CrossEntropy),
        weight_decay: g.number("weight-decay").unwrap_or(0.0),
        kappa: g.number("kappa").unwrap_or(0.0),
        holdout: g.number("holdout").unwrap_or(0.0),
        standardise: !g.switch("raw-features"),
        split_seed: g.data_seed.unwrap_or(0),
        data: g.data.clone().unwrap_or(DataSource::Seed(0)),
    })
}


/// A choice flag's word as the enum whose serde names the choices are (`gelu` -> `Activation::Gelu`).
fn word<T: serde::de::DeserializeOwned>(g: &Given, flag: &str) -> Result<Option<T>, Error> {
    g.word(flag).map(|w| serde_json::from_value(serde_json::Value::from(w)).map_err(|e| Error::invalid(flag, e.to_string(), w))).transpose()
}

/// How many of `names` (an [`Entry::data`] list) must be given: those before the first optional
/// one (a name ending in `?`).
pub fn required_data(names: &[&str]) -> usize {
    names.iter().take_while(|n| !n.ends_with('?')).count()
}
