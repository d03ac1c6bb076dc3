//! Against a real S3 server, when one is configured: set `REGRADE_TEST_S3` to an `s3://bucket`
//! URL and the usual `AWS_*` variables (for a local `s3s-fs`: `AWS_ENDPOINT=http://127.0.0.1:PORT`,
//! `AWS_ALLOW_HTTP=true`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`). Without
//! `REGRADE_TEST_S3` the test passes without doing anything.

use object_store::{ObjectStoreExt, PutPayload};
use regrade::generate::{self, Options};
use regrade::read::{self, read_table};
use regrade::{schema, store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_and_read_back_on_s3() {
    let Ok(base) = std::env::var("REGRADE_TEST_S3") else {
        eprintln!("REGRADE_TEST_S3 not set: skipping the S3 round trip");
        return;
    };
    let url = format!("{}/regrade-test-{}", base.trim_end_matches('/'), std::process::id());
    let loc = store::open_output(&url).expect("open");
    let opts = Options { seed: 5, courses: 2, learners: 40, problems_per_course: 10 };
    let summary = generate::generate(&loc, &opts, true, false).await.expect("generate");
    for s in schema::inputs() {
        let batches = read_table(&loc, &s.table, &[], None).await.expect("read");
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, summary.tables[&s.table].rows, "{}", s.table);
    }
    // A corrupt object is an input error naming it.
    let bad = loc.path(&["users", "part-99999.parquet"]);
    loc.store.put(&bad, PutPayload::from_static(b"not parquet")).await.expect("put");
    let err = read_table(&loc, "users", &[], None).await.expect_err("corrupt");
    assert!(read::is_input_error(&err));
    assert!(format!("{err:#}").contains(&format!("{url}/users/part-99999.parquet")), "{err:#}");

    let all: Vec<_> =
        futures::TryStreamExt::try_collect(loc.store.list(Some(&loc.prefix))).await.expect("list");
    for meta in all {
        loc.store.delete(&meta.location).await.expect("clean up");
    }
}
