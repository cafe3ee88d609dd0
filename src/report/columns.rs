//! One schema for every table escapade writes: a record type's fields, declared once with
//! `columns!`, are the columns of its CSV file, its Parquet file and the Python package's
//! structured arrays, in the same order and with the same values. The three writers read them
//! from the [`Table`] impl the macro generates, so they cannot drift apart.

use std::fmt::Write as _;

/// One column's values, typed (an empty cell is `None`).
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Counts, steps, labels, chain indices.
    Int(Vec<u32>),
    /// Integers that may be empty.
    OptInt(Vec<Option<u32>>),
    /// Values of the chain's state format, stored as f32.
    Float(Vec<f32>),
    /// f64 values that may be empty.
    OptDouble(Vec<Option<f64>>),
    /// Flags that may be empty.
    OptBool(Vec<Option<bool>>),
    /// Names (a status, an outcome).
    Text(Vec<&'static str>),
}

impl Values {
    /// The number of rows.
    pub fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::OptInt(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::OptDouble(v) => v.len(),
            Values::OptBool(v) => v.len(),
            Values::Text(v) => v.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A field type that can be a column: how one value is written in CSV, and how a column of
/// them is gathered.
pub trait Cell: Copy {
    /// Appends the CSV text of the value (nothing for an empty cell).
    fn csv(self, out: &mut String);
    /// The column of these values.
    fn gather(cells: Vec<Self>) -> Values;
}

impl Cell for u32 {
    fn csv(self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
    fn gather(cells: Vec<Self>) -> Values {
        Values::Int(cells)
    }
}

impl Cell for Option<u32> {
    fn csv(self, out: &mut String) {
        if let Some(v) = self {
            v.csv(out);
        }
    }
    fn gather(cells: Vec<Self>) -> Values {
        Values::OptInt(cells)
    }
}

impl Cell for f32 {
    // Debug prints the shortest text that reads back to the same float, with an exponent for
    // very large and very small values (Display would print 1e-30 with thirty zeros).
    fn csv(self, out: &mut String) {
        let _ = write!(out, "{self:?}");
    }
    fn gather(cells: Vec<Self>) -> Values {
        Values::Float(cells)
    }
}

/// Optional f64 and flags: the value's text (floats as f32's), nothing when empty.
macro_rules! optional_cell {
    ($($ty:ty => $variant:ident),+) => {$(
        impl Cell for Option<$ty> {
            fn csv(self, out: &mut String) {
                if let Some(v) = self {
                    let _ = write!(out, "{v:?}");
                }
            }
            fn gather(cells: Vec<Self>) -> Values {
                Values::$variant(cells)
            }
        }
    )+};
}
optional_cell!(f64 => OptDouble, bool => OptBool);

impl Cell for crate::escape::Status {
    fn csv(self, out: &mut String) {
        out.push_str(self.name());
    }
    fn gather(cells: Vec<Self>) -> Values {
        Values::Text(cells.into_iter().map(Self::name).collect())
    }
}

impl Cell for crate::outcome::Final {
    fn csv(self, out: &mut String) {
        out.push_str(self.name());
    }
    fn gather(cells: Vec<Self>) -> Values {
        Values::Text(cells.into_iter().map(Self::name).collect())
    }
}

/// A record type whose fields are a table's columns (`columns!` implements it).
pub trait Table: Sized {
    /// The column names, in order.
    const COLUMNS: &'static [&'static str];
    /// The CSV header: the names joined by commas.
    const HEADER: &'static str;
    /// Appends the record's CSV row (without the line end).
    fn csv_row(&self, out: &mut String);
    /// Column `i` of `rows` (None past the last column).
    fn column(rows: &[Self], i: usize) -> Option<Values>;

    /// Every column of `rows`, named.
    fn columns(rows: &[Self]) -> Vec<(&'static str, Values)> {
        Self::COLUMNS.iter().enumerate().filter_map(|(i, &name)| Some((name, Self::column(rows, i)?))).collect()
    }
}

/// Implements [`Table`] for a record type from its field list, in one of two forms: wrapping the
/// struct's declaration (its fields are the columns, in order), or `impl Type { a, b, ... }` for a
/// struct declared elsewhere (a record shared with the kernels) whose listed fields are the columns.
macro_rules! columns {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)+ }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)+
        }
        $crate::report::columns::columns!(impl $name { $($field),+ });
    };
    (impl $name:ident { $first:ident $(, $field:ident)* }) => {
        impl $crate::report::columns::Table for $name {
            const COLUMNS: &'static [&'static str] = &[stringify!($first) $(, stringify!($field))*];
            const HEADER: &'static str = concat!(stringify!($first) $(, ",", stringify!($field))*);
            fn csv_row(&self, out: &mut String) {
                $crate::report::columns::Cell::csv(self.$first, out);
                $(
                    out.push(',');
                    $crate::report::columns::Cell::csv(self.$field, out);
                )*
            }
            fn column(rows: &[Self], i: usize) -> Option<$crate::report::columns::Values> {
                use $crate::report::columns::Cell;
                let mut at = 0usize;
                if i == at {
                    return Some(Cell::gather(rows.iter().map(|r| r.$first).collect()));
                }
                $(
                    at += 1;
                    if i == at {
                        return Some(Cell::gather(rows.iter().map(|r| r.$field).collect()));
                    }
                )*
                let _ = at;
                None
            }
        }
    };
}
pub(crate) use columns;

/// Writes `rows` as CSV under their header to `path`; returns the file's SHA-256.
pub(crate) fn write_table<T: Table>(path: &std::path::Path, rows: impl Iterator<Item = T>) -> Result<String, crate::Error> {
    super::files::write_csv(
        path,
        T::HEADER,
        rows.map(|r| {
            let mut line = String::with_capacity(128);
            r.csv_row(&mut line);
            line
        }),
    )
}
