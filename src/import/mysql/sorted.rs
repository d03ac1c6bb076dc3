//! Learner tables written sorted by learner within each course, with memory bounded by
//! [`SORT_BUFFER_ROWS`] (or `--part-rows`, if smaller).
//!
//! `regrade run` reads a large course in partitions (ranges of user ids) and fetches only the
//! Parquet row groups whose min/max on the learner column overlap a partition's range, so the
//! files of a course should hold narrow, non-overlapping learner ranges. The sources do not
//! arrive in learner order: `courseware_studentmodule` is paged by `id` along its `course_id`
//! index (edX has no `(course_id, student_id)` index, and an `ORDER BY student_id` over a course
//! of 100M rows would be a server-side filesort), and so are submissions, enrollments and tags.
//!
//! The design: **learner buckets per course.**
//!
//! * Before a course's rows are read, its user ids are cut into at most [`BUCKETS`] buckets of
//!   about equal numbers of learners, at the quantiles of the course's enrolled user ids
//!   (`student_courseenrollment` is small and read along its `course_id` index; fetched once per
//!   course and shared by every job of the course, so the split key ranges of a large course
//!   use the same buckets). A row whose learner is not enrolled still falls in a bucket by id.
//! * Each page's rows go to their bucket's buffer. When one table's buffered rows (over all the
//!   courses of the job) reach [`buffer_rows`] (`--part-rows`, at most [`SORT_BUFFER_ROWS`]),
//!   the fullest bucket is sorted by learner (stably,
//!   so the rows of one learner stay in the order of the paging key) and written as one part
//!   file. Memory stays bounded by [`buffer_rows`] rows per table and job (held uncompressed:
//!   more than the one encoded part a job held before; the README gives measurements); every
//!   such file spans one bucket's narrow range, and files of different buckets never overlap.
//! * At the end of the job, a course whose rows never reached `--part-rows` is written as one
//!   sorted stream (small tables and courses: one sorted file); otherwise the remaining buckets
//!   are written in order, each sorted, a file per bucket, but nearly empty neighbours share one
//!   up to `--part-rows / BUCKETS` rows: a file lies within one bucket, or is that small. The
//!   key ranges of a split course ([`super::sources::Source::split`]) are jobs of their own,
//!   each with its own buckets (the same bounds), never one stream over the course.
//!
//! Why not an external merge sort (sorted runs spilled, then merged into fully sorted files)?
//! It would need local scratch space and a second pass over the biggest table; buckets give
//! most of the benefit in one pass. The price: a bucket written several times has several
//! files over the same range (so does each split key range of a course), and a reader of that
//! range reads all of them, but nothing of other buckets. [`BUCKETS`] trades that against file
//! size: a bucket written early holds at least `--part-rows / BUCKETS` rows (250 000 at the
//! default, about one row group of 256K rows). Row groups are the unit a reader skips, so the
//! layout pays off for courses of several row groups; measured on the 2M benchmark dataset
//! with 200,000-row parts, reading a course in 4 learner ranges fetched 1.2x its studentmodule
//! rows, against 4x (every row group, every time) before.
//!
//! `generated_certificates` is read in one pass over the whole table (no course index): its
//! courses' buckets are fetched before the job starts, and its budget spans every course.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use arrow::array::{Array, Int64Array, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::record_batch::RecordBatch;
use mysql::prelude::Queryable;

use crate::write::{PartWriter, WrittenFile};

/// Buckets a course's learners are cut into, at most.
pub(crate) const BUCKETS: usize = 16;

/// The learner column of a contract table, for the tables written sorted by learner: the
/// column `regrade run` reads a partition's rows by.
pub(crate) use crate::read::tables::user_column as learner_column;

/// Rows a job holds to sort, at most, whatever `--part-rows` says: about 190 bytes each
/// uncompressed (a `studentmodule` row), so about 190 MB per job. A bucket's file then holds
/// at least this over [`BUCKETS`] rows (62 500, a quarter of a row group).
pub(crate) const SORT_BUFFER_ROWS: usize = 1_000_000;

/// The buffered rows over which a job writes its fullest bucket.
pub(crate) fn buffer_rows(part_rows: usize) -> usize {
    part_rows.min(SORT_BUFFER_ROWS)
}

/// A course's bucket boundaries: the first user id of every bucket but the first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bounds(Arc<[i64]>);

impl Bounds {
    /// At most `buckets` buckets at the quantiles of `ids` (any order, repeats allowed).
    pub(crate) fn from_ids(mut ids: Vec<i64>, buckets: usize) -> Bounds {
        ids.sort_unstable();
        ids.dedup();
        let k = buckets.min(ids.len()).max(1);
        Bounds((1..k).map(|i| ids[i * ids.len() / k]).collect())
    }

    pub(crate) fn buckets(&self) -> usize {
        self.0.len() + 1
    }

    pub(crate) fn bucket(&self, user: i64) -> usize {
        self.0.partition_point(|&b| b <= user)
    }
}

/// The bounds of each course, fetched once (by the first job that needs them).
#[derive(Default)]
pub(crate) struct BoundsCache(Mutex<HashMap<String, Bounds>>);

impl BoundsCache {
    /// The bounds of `course`, from its enrolled user ids (read on `conn`, in its snapshot;
    /// `index` is the `FORCE INDEX` of the enrollments' course index, or empty).
    pub(crate) fn get(&self, conn: &mut mysql::Conn, index: &str, course: &str) -> Result<Bounds> {
        if let Some(b) = self.0.lock().expect("bounds cache").get(course) {
            return Ok(b.clone());
        }
        let sql = format!("SELECT e.user_id FROM student_courseenrollment e {index} WHERE e.course_id = ?");
        let ids: Vec<i64> = conn.exec(sql, (course,))?;
        let bounds = Bounds::from_ids(ids, BUCKETS);
        self.0.lock().expect("bounds cache").insert(course.to_string(), bounds.clone());
        Ok(bounds)
    }
}

/// One learner table of one course: rows waiting in their buckets, and the writer of its files.
pub(crate) struct Sorted {
    /// The learner column's position in the table.
    column: usize,
    bounds: Bounds,
    buckets: Vec<Vec<RecordBatch>>,
    rows: Vec<usize>,
    /// Files have been written before the end (the rows do not fit one sorted stream).
    spilled: bool,
    /// Another job writes the same course (a key range of a split course): its rows are never
    /// one stream over the whole course.
    shared: bool,
    /// At the end, the fewest rows of a file that ends at a bucket's edge.
    min_file: usize,
    writer: PartWriter,
}

impl Sorted {
    /// `min_file` is `buffer_rows(part_rows) / BUCKETS`: what the fullest bucket holds at least when it is
    /// written early, so the size of the files of a large course's buckets.
    pub(crate) fn new(
        writer: PartWriter,
        column: usize,
        bounds: Bounds,
        shared: bool,
        part_rows: usize,
    ) -> Sorted {
        let n = bounds.buckets();
        Sorted {
            column,
            bounds,
            buckets: vec![Vec::new(); n],
            rows: vec![0; n],
            spilled: false,
            shared,
            min_file: (buffer_rows(part_rows) / BUCKETS).max(1),
            writer,
        }
    }

    /// Rows waiting.
    pub(crate) fn buffered(&self) -> usize {
        self.rows.iter().sum()
    }

    /// The fullest bucket: (its rows, its number).
    pub(crate) fn fullest(&self) -> (usize, usize) {
        self.rows
            .iter()
            .enumerate()
            .map(|(b, &n)| (n, b))
            .max_by_key(|&(n, b)| (n, std::cmp::Reverse(b)))
            .unwrap_or((0, 0))
    }

    /// Route a batch's rows to their buckets.
    pub(crate) fn add(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let users = learners(&batch, self.column)?;
        let mut by_bucket: Vec<Vec<u32>> = vec![Vec::new(); self.buckets.len()];
        for (i, &u) in users.iter().enumerate() {
            by_bucket[self.bounds.bucket(u)].push(i as u32);
        }
        for (b, rows) in by_bucket.into_iter().enumerate() {
            if rows.len() == batch.num_rows() {
                self.rows[b] += rows.len();
                self.buckets[b].push(batch);
                return Ok(());
            }
            if !rows.is_empty() {
                self.rows[b] += rows.len();
                self.buckets[b].push(take_record_batch(&batch, &UInt32Array::from(rows))?);
            }
        }
        Ok(())
    }

    /// Write bucket `b`, sorted, as a part file of its own.
    pub(crate) fn write_bucket(&mut self, rt: &tokio::runtime::Handle, b: usize) -> Result<()> {
        let Some(sorted) = self.take_sorted(b)? else { return Ok(()) };
        self.spilled = true;
        rt.block_on(async {
            self.writer.write(&sorted).await?;
            self.writer.flush().await
        })
    }

    /// Write what is left, bucket after bucket, and return every file written. A course whose
    /// rows never reached `--part-rows` in this job and that no other job writes is one sorted
    /// stream; otherwise each bucket is a file, except that nearly empty neighbours share one
    /// while together they hold at most `min_file` rows (see [`Sorted::new`]): a file lies within
    /// one bucket or is small.
    pub(crate) fn finish(mut self, rt: &tokio::runtime::Handle) -> Result<Vec<WrittenFile>> {
        let min_file = if !self.spilled && !self.shared { usize::MAX } else { self.min_file };
        let mut in_file = 0;
        for b in 0..self.buckets.len() {
            let Some(sorted) = self.take_sorted(b)? else { continue };
            if in_file > 0 && in_file + sorted.num_rows() > min_file {
                rt.block_on(self.writer.flush())?;
                in_file = 0;
            }
            in_file += sorted.num_rows();
            rt.block_on(self.writer.write(&sorted))?;
        }
        rt.block_on(self.writer.finish())
    }

    /// Bucket `b`'s rows sorted by learner (stable: rows of a learner keep their order), and
    /// the bucket emptied; `None` when it is empty.
    fn take_sorted(&mut self, b: usize) -> Result<Option<RecordBatch>> {
        let batches = std::mem::take(&mut self.buckets[b]);
        self.rows[b] = 0;
        let Some(first) = batches.first() else { return Ok(None) };
        let all = concat_batches(&first.schema(), &batches)?;
        drop(batches);
        let users = learners(&all, self.column)?;
        let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
        order.sort_by_key(|&i| users[i as usize]);
        Ok(Some(take_record_batch(&all, &UInt32Array::from(order))?))
    }
}

/// The learner column of a batch as ids (a NULL, which the conversions never write, first).
fn learners(batch: &RecordBatch, column: usize) -> Result<Vec<i64>> {
    let col = batch
        .column(column)
        .as_any()
        .downcast_ref::<Int64Array>()
        .context("the learner column is not a 64-bit integer")?;
    Ok((0..col.len()).map(|i| if col.is_null(i) { i64::MIN } else { col.value(i) }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cut_at_quantiles_of_distinct_ids() {
        let b = Bounds::from_ids(vec![9, 1, 5, 5, 3, 7, 11, 13], 4);
        // Distinct: 1 3 5 7 9 11 13 (7 ids): cuts at ids[1], ids[3], ids[5].
        assert_eq!(&*b.0, &[3, 7, 11]);
        assert_eq!(b.buckets(), 4);
        assert_eq!(
            (b.bucket(-5), b.bucket(2), b.bucket(3), b.bucket(10), b.bucket(11), b.bucket(99)),
            (0, 0, 1, 2, 3, 3)
        );
        assert_eq!(Bounds::from_ids(vec![], 16).buckets(), 1);
        assert_eq!(Bounds::from_ids(vec![4, 2], 16).buckets(), 2);
    }

    /// Feed `pages` of 20 rows (learners 0..160 in a scrambled order, `n` the arrival order),
    /// writing the fullest bucket whenever 100 rows wait (as `Outputs::flush` does); each file
    /// read back as (learner, n) rows.
    fn run(shared: bool, pages: i64) -> Vec<Vec<(i64, i64)>> {
        use arrow::datatypes::{DataType, Field, Schema};
        use object_store::ObjectStoreExt;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // A store of its own (the memory stores of one name are shared by the process).
        let loc = crate::store::open(&format!("memory://sorted-{shared}-{pages}")).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let writer = PartWriter::new(loc.clone(), loc.path(&["t"]), schema.clone(), 100);
        // 16 buckets of 10 learners each.
        let mut sorted = Sorted::new(writer, 0, Bounds::from_ids((0..160).collect(), 16), shared, 100);
        for page in 0..pages {
            let n: Vec<i64> = (page * 20..page * 20 + 20).collect();
            let users: Vec<i64> = n.iter().map(|i| i * 53 % 160).collect();
            let columns: Vec<arrow::array::ArrayRef> =
                vec![Arc::new(Int64Array::from(users)), Arc::new(Int64Array::from(n))];
            sorted.add(RecordBatch::try_new(schema.clone(), columns).unwrap()).unwrap();
            while sorted.buffered() >= 100 {
                let (_, b) = sorted.fullest();
                sorted.write_bucket(rt.handle(), b).unwrap();
            }
        }
        let files = sorted.finish(rt.handle()).unwrap();
        files
            .iter()
            .map(|f| {
                let path = loc.resolve(&f.path).unwrap();
                let bytes = rt.block_on(async { loc.store.get(&path).await.unwrap().bytes().await.unwrap() });
                let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                    .unwrap()
                    .build();
                let mut rows = Vec::new();
                for batch in reader.unwrap() {
                    let batch = batch.unwrap();
                    let (u, n) = (learners(&batch, 0).unwrap(), learners(&batch, 1).unwrap());
                    rows.extend(u.into_iter().zip(n));
                }
                rows
            })
            .collect()
    }

    #[test]
    fn files_are_sorted_and_lie_within_one_bucket_or_are_small() {
        for shared in [false, true] {
            let files = run(shared, 40);
            assert_eq!(files.iter().map(Vec::len).sum::<usize>(), 800, "every row once");
            assert!(files.len() > 16, "{} files", files.len());
            for rows in &files {
                // By learner, then in arrival order.
                assert!(rows.windows(2).all(|w| w[0] < w[1]), "not sorted: {rows:?}");
                let (first, last) = (rows[0].0 / 10, rows[rows.len() - 1].0 / 10);
                // Nearly empty buckets share a file of at most 100 / 16 rows.
                assert!(
                    first == last || rows.len() <= 6,
                    "{} rows over buckets {first}..={last}",
                    rows.len()
                );
            }
        }
    }

    #[test]
    fn a_course_that_fits_is_one_sorted_file_unless_another_job_writes_it_too() {
        let files = run(false, 4);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].len(), 80);
        assert!(files[0].windows(2).all(|w| w[0] < w[1]));
        // A key range of a split course: a file per bucket, nearly empty neighbours together
        // in files of at most 100 / 16 rows.
        let files = run(true, 4);
        assert!(files.len() > 1);
        assert_eq!(files.iter().map(Vec::len).sum::<usize>(), 80);
        for rows in &files {
            assert!(rows.windows(2).all(|w| w[0] < w[1]), "not sorted: {rows:?}");
            let (first, last) = (rows[0].0 / 10, rows[rows.len() - 1].0 / 10);
            assert!(first == last || rows.len() <= 6, "{} rows over buckets {first}..={last}", rows.len());
        }
    }
}
