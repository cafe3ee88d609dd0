//! events.parquet and chains.parquet (cargo feature `parquet`): the same tables as the CSV files,
//! typed, for pandas, R and Spark.

use super::columns::{Table, Values};
use super::files::ChainRecord;
use crate::Error;
use crate::escape::EscapeEvent;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, FloatType, Int64Type};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::path::Path;
use std::sync::Arc;

/// The Parquet type of a column: integers as INT64, f32 as FLOAT, f64 as DOUBLE, names as UTF8,
/// empty cells as nulls of an OPTIONAL column.
fn parquet_type(v: &Values) -> &'static str {
    match v {
        Values::Int(_) => "REQUIRED INT64",
        Values::OptInt(_) => "OPTIONAL INT64",
        Values::Float(_) => "REQUIRED FLOAT",
        Values::OptDouble(_) => "OPTIONAL DOUBLE",
        Values::OptBool(_) => "OPTIONAL BOOLEAN",
        Values::Text(_) => "REQUIRED BYTE_ARRAY",
    }
}

/// The present values of an optional column and its definition levels (1 present, 0 null).
fn levels<T: Copy, U>(v: &[Option<T>], f: impl Fn(T) -> U) -> (Vec<U>, Vec<i16>) {
    (v.iter().flatten().map(|&x| f(x)).collect(), v.iter().map(|x| i16::from(x.is_some())).collect())
}

/// Writes `rows` to `path` as one row group, a column per field of the table.
pub fn write_table<T: Table>(path: &Path, name: &str, rows: &[T]) -> Result<(), Error> {
    let err = |e: parquet::errors::ParquetError| Error::Io { path: path.display().to_string(), source: std::io::Error::other(e.to_string()) };
    let columns = T::columns(rows);
    let fields: String = columns
        .iter()
        .map(|(n, v)| format!("{} {n}{}; ", parquet_type(v), if matches!(v, Values::Text(_)) { " (UTF8)" } else { "" }))
        .collect();
    let schema = Arc::new(parse_message_type(&format!("message {name} {{ {fields}}}")).map_err(err)?);
    let file = std::fs::File::create(path).map_err(Error::io(path))?;
    let mut writer = SerializedFileWriter::new(file, schema, Default::default()).map_err(err)?;
    let mut group = writer.next_row_group().map_err(err)?;
    for (_, values) in &columns {
        let Some(mut w) = group.next_column().map_err(err)? else { break };
        match values {
            Values::Int(v) => w.typed::<Int64Type>().write_batch(&v.iter().map(|&x| i64::from(x)).collect::<Vec<_>>(), None, None),
            Values::OptInt(v) => {
                let (v, def) = levels(v, i64::from);
                w.typed::<Int64Type>().write_batch(&v, Some(&def), None)
            }
            Values::Float(v) => w.typed::<FloatType>().write_batch(v, None, None),
            Values::OptDouble(v) => {
                let (v, def) = levels(v, |x| x);
                w.typed::<DoubleType>().write_batch(&v, Some(&def), None)
            }
            Values::OptBool(v) => {
                let (v, def) = levels(v, |x| x);
                w.typed::<BoolType>().write_batch(&v, Some(&def), None)
            }
            Values::Text(v) => w.typed::<ByteArrayType>().write_batch(&v.iter().map(|&s| ByteArray::from(s)).collect::<Vec<_>>(), None, None),
        }
        .map_err(err)?;
        w.close().map_err(err)?;
    }
    group.close().map_err(err)?;
    writer.close().map_err(err)?;
    Ok(())
}

/// Writes DIR/events.parquet and DIR/chains.parquet: the columns of events.csv and chains.csv.
pub fn write_tables(dir: &Path, events: &[EscapeEvent], chains: &[ChainRecord]) -> Result<(), Error> {
    write_table(&dir.join("events.parquet"), "events", events)?;
    write_table(&dir.join("chains.parquet"), "chains", chains)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escape::ChainState;
    use crate::outcome::Final;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    /// A Parquet cell as chains.csv writes it.
    fn csv_text(f: &Field) -> String {
        match f {
            Field::Null => String::new(),
            Field::Long(v) => v.to_string(),
            Field::Float(v) => format!("{v:?}"),
            Field::Double(v) => format!("{v:?}"),
            Field::Bool(v) => v.to_string(),
            Field::Str(v) => v.clone(),
            other => panic!("unexpected cell {other:?}"),
        }
    }

    /// Each Parquet file, read back row by row, is its CSV file: the same header, the same cells.
    fn same_as_csv<T: Table + Copy>(dir: &Path, name: &str, rows: &[T]) {
        super::super::columns::write_table(&dir.join(format!("{name}.csv")), rows.iter().copied()).unwrap();
        let csv = std::fs::read_to_string(dir.join(format!("{name}.csv"))).unwrap();
        let reader = SerializedFileReader::new(std::fs::File::open(dir.join(format!("{name}.parquet"))).unwrap()).unwrap();
        let schema = reader.metadata().file_metadata().schema_descr();
        let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names.join(","), T::HEADER);
        let lines: Vec<String> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|row| row.unwrap().get_column_iter().map(|(_, f)| csv_text(f)).collect::<Vec<_>>().join(","))
            .collect();
        assert_eq!(lines.len(), rows.len());
        assert_eq!(csv.lines().skip(1).collect::<Vec<_>>(), lines);
    }

    #[test]
    fn parquet_files_hold_the_csv_columns_and_values() {
        let dir = std::env::temp_dir().join(format!("escapade-parquet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let events: Vec<EscapeEvent> = (0..5)
            .map(|i| EscapeEvent { chain: 3 + i, label: i % 2, t_stall: 10 * i, escape_steps: 7 + i, f_stall: 0.5 / (i + 1) as f32, f_escape: -1e-7 * i as f32 })
            .collect();
        let mut st = ChainState::fresh();
        (st.t, st.stalled, st.t_stall, st.label, st.f, st.t_limited) = (700, 1, 650, 5, -3.25, 660);
        let chains = vec![
            ChainRecord::new(40, &st, Final::PrecisionLimited, (-2.0, 1e-12, false)),
            ChainRecord::new(41, &ChainState::fresh(), Final::Moving, (f64::NAN, f64::NAN, false)),
            ChainRecord::new(42, &st, Final::Converged, (0.125, 3e-9, true)),
        ];
        write_tables(&dir, &events, &chains).unwrap();
        same_as_csv(&dir, "events", &events);
        same_as_csv(&dir, "chains", &chains);
        std::fs::remove_dir_all(&dir).ok();
    }
}
