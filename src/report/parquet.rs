//! events.parquet and chains.parquet (cargo feature `parquet`): the same tables as the CSV files,
//! typed, for pandas, R and Spark.

use crate::Error;
use crate::escape::{ChainState, EscapeEvent};
use parquet::data_type::{ByteArray, ByteArrayType, FloatType, Int64Type};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::path::Path;
use std::sync::Arc;

/// One column's values.
enum Column {
    Int(Vec<i64>),
    Float(Vec<f32>),
    Text(Vec<ByteArray>),
}

fn write(path: &Path, schema: &str, columns: Vec<Column>) -> Result<(), Error> {
    let err = |e: parquet::errors::ParquetError| Error::Io { path: path.display().to_string(), source: std::io::Error::other(e.to_string()) };
    let schema = Arc::new(parse_message_type(schema).map_err(err)?);
    let file = std::fs::File::create(path).map_err(Error::io(path))?;
    let mut writer = SerializedFileWriter::new(file, schema, Default::default()).map_err(err)?;
    let mut group = writer.next_row_group().map_err(err)?;
    for col in columns {
        let Some(mut w) = group.next_column().map_err(err)? else { break };
        match &col {
            Column::Int(v) => w.typed::<Int64Type>().write_batch(v, None, None),
            Column::Float(v) => w.typed::<FloatType>().write_batch(v, None, None),
            Column::Text(v) => w.typed::<ByteArrayType>().write_batch(v, None, None),
        }
        .map_err(err)?;
        w.close().map_err(err)?;
    }
    group.close().map_err(err)?;
    writer.close().map_err(err)?;
    Ok(())
}

/// Writes DIR/events.parquet and DIR/chains.parquet.
pub fn write_tables(dir: &Path, events: &[EscapeEvent], chains: &[ChainState]) -> Result<(), Error> {
    let ints = |f: &dyn Fn(&EscapeEvent) -> u32| Column::Int(events.iter().map(|e| i64::from(f(e))).collect());
    write(
        &dir.join("events.parquet"),
        "message events { REQUIRED INT64 chain; REQUIRED INT64 label; REQUIRED INT64 t_stall; REQUIRED INT64 escape_steps; \
         REQUIRED FLOAT f_stall; REQUIRED FLOAT f_escape; }",
        vec![
            ints(&|e| e.chain),
            ints(&|e| e.label),
            ints(&|e| e.t_stall),
            ints(&|e| e.escape_steps),
            Column::Float(events.iter().map(|e| e.f_stall).collect()),
            Column::Float(events.iter().map(|e| e.f_escape).collect()),
        ],
    )?;
    let ints = |f: &dyn Fn(&ChainState) -> u32| Column::Int(chains.iter().map(|c| i64::from(f(c))).collect());
    let floats = |f: &dyn Fn(&ChainState) -> f32| Column::Float(chains.iter().map(f).collect());
    write(
        &dir.join("chains.parquet"),
        "message chains { REQUIRED INT64 chain; REQUIRED BYTE_ARRAY status (UTF8); REQUIRED INT64 stalled; REQUIRED INT64 t_stall; \
         REQUIRED INT64 stall_label; REQUIRED INT64 steps; REQUIRED INT64 escapes; REQUIRED INT64 label; REQUIRED INT64 label_since; \
         REQUIRED FLOAT f; REQUIRED FLOAT gnorm; REQUIRED FLOAT eta; }",
        vec![
            Column::Int((0..chains.len() as i64).collect()),
            Column::Text(chains.iter().map(|c| ByteArray::from(c.state().name())).collect()),
            ints(&|c| c.stalled),
            ints(&|c| c.t_stall),
            ints(&|c| c.stall_label),
            ints(&|c| c.t),
            ints(&|c| c.escapes),
            ints(&|c| c.label),
            ints(&|c| c.label_since),
            floats(&|c| c.f),
            floats(&|c| c.gnorm),
            floats(&|c| c.eta),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn tables_read_back() {
        let dir = std::env::temp_dir().join(format!("escapade-parquet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let events = vec![EscapeEvent { chain: 3, label: 1, t_stall: 10, escape_steps: 7, f_stall: 0.5, f_escape: -0.5 }; 5];
        let chains = vec![ChainState::fresh(); 4];
        write_tables(&dir, &events, &chains).unwrap();
        for (name, rows, cols) in [("events.parquet", 5, 6), ("chains.parquet", 4, 12)] {
            let reader = SerializedFileReader::new(std::fs::File::open(dir.join(name)).unwrap()).unwrap();
            let meta = reader.metadata();
            assert_eq!(meta.file_metadata().num_rows(), rows);
            assert_eq!(meta.file_metadata().schema_descr().num_columns(), cols);
            let first = reader.get_row_iter(None).unwrap().next().unwrap().unwrap();
            assert!(first.to_string().contains(if name == "events.parquet" { "escape_steps: 7" } else { "status: \"running\"" }), "{first}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
