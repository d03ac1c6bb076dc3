//! The write floor of a run (`benches/e2e.py` runs it after each `regrade run`): the least time
//! writing that run's outputs can take. Every Parquet file of the run folder is read into Arrow
//! batches and every CSV report into its cells, in memory; then, timed, all of them are encoded
//! again on `THREADS` threads (a file per task): Parquet with regrade's own writer properties,
//! CSV with the reports' quoting (checked to give back the same bytes, so it is the same work).
//! Nothing is written to disk.
//!
//! `cargo bench --bench write_floor -- RUN_FOLDER THREADS` prints one JSON line:
//! `{"files", "rows", "bytes", "seconds"}`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;

/// One output file, in memory.
enum Output {
    Parquet(Vec<RecordBatch>),
    /// The cells, and the line ending the file uses.
    Csv(Vec<Vec<String>>, &'static str),
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let p = e.expect("entry").path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "parquet" || x == "csv") {
            out.push(p);
        }
    }
}

/// The cells of a CSV file (RFC 4180: `"` quotes, `""` inside quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

/// The reports' CSV: a cell is quoted when it holds a comma, a quote or a line break.
fn encode_csv(rows: &[Vec<String>], eol: &str) -> Vec<u8> {
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if cell.contains([',', '"', '\n', '\r']) {
                out.push('"');
                out.push_str(&cell.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(cell);
            }
        }
        out.push_str(eol);
    }
    out.into_bytes()
}

/// The cells a report can hold come back as the same bytes: quotes, commas, line breaks.
fn self_check() {
    for (text, eol) in [
        ("a,b\n\"x, y\",\"say \"\"hi\"\"\"\n\"two\nlines\",\n", "\n"),
        ("Student ID,Grade\r\n1,0.5\r\n", "\r\n"),
    ] {
        let cells = parse_csv(text);
        assert_eq!(String::from_utf8(encode_csv(&cells, eol)).unwrap(), text);
    }
    assert_eq!(parse_csv("\"x, y\",z\n"), [["x, y", "z"]]);
}

fn main() {
    // `cargo bench` passes `--bench` first; the folder and thread count are the other arguments.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if args.is_empty() {
        // `cargo test --all-targets` runs this target without arguments: check the CSV round
        // trip the measurement relies on, and stop.
        self_check();
        println!("write_floor: CSV round trip checked; `cargo bench --bench write_floor -- RUN_FOLDER THREADS` measures");
        return;
    }
    let [folder, threads] = args.as_slice() else {
        eprintln!("usage: cargo bench --bench write_floor -- RUN_FOLDER THREADS");
        std::process::exit(2);
    };
    let threads: usize = threads.parse().expect("THREADS is a number");
    let mut paths = Vec::new();
    files(Path::new(folder), &mut paths);
    let mut rows = 0usize;
    let outputs: Vec<Output> = paths
        .iter()
        .map(|p| {
            if p.extension().is_some_and(|x| x == "parquet") {
                let file = std::fs::File::open(p).expect("open");
                let reader =
                    ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
                let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
                rows += batches.iter().map(RecordBatch::num_rows).sum::<usize>();
                Output::Parquet(batches)
            } else {
                let text = std::fs::read_to_string(p).expect("read csv");
                let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
                let cells = parse_csv(&text);
                assert_eq!(
                    encode_csv(&cells, eol),
                    text.as_bytes(),
                    "{}: CSV re-encoding differs",
                    p.display()
                );
                rows += cells.len();
                Output::Csv(cells, eol)
            }
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
    let started = Instant::now();
    let bytes: usize = pool.install(|| {
        outputs
            .par_iter()
            .map(|o| match o {
                Output::Parquet(batches) if batches.is_empty() => 0,
                Output::Parquet(batches) => {
                    regrade::write::encode(&batches[0].schema(), batches).expect("encode").len()
                }
                Output::Csv(cells, eol) => encode_csv(cells, eol).len(),
            })
            .sum()
    });
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"files": paths.len(), "rows": rows, "bytes": bytes, "seconds": seconds})
    );
}
