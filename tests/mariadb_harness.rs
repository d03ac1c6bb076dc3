//! The MariaDB test harness itself (`common/mariadb.rs`): a private server starts, speaks utf8mb4
//! in UTC, hands values back exactly (NULL apart from 'NULL', doubles to the bit), loads a CSV
//! with `LOAD DATA LOCAL INFILE` from a relative path, and reports failing SQL. Without MariaDB
//! installed the tests skip, loudly; with `REGRADE_REQUIRE_MARIADB=1` they fail instead.

mod common;

use std::time::Instant;

use common::mariadb::MariaDb;

/// Starts a server, saying how long it took.
fn start() -> Option<MariaDb> {
    let started = Instant::now();
    let db = MariaDb::start()?;
    eprintln!("mariadb: server ready on {} in {:?}", db.socket().display(), started.elapsed());
    Some(db)
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// Compares the server's text for a double with `expected` bit for bit.
fn assert_double(text: &Option<String>, expected: f64) {
    let text = text.as_deref().expect("a double, not NULL");
    let parsed: f64 = text.parse().unwrap_or_else(|e| panic!("{text:?} is not a double: {e}"));
    assert_eq!(parsed.to_bits(), expected.to_bits(), "{text} read as {parsed:e}, expected {expected:e}");
}

#[test]
fn values_round_trip_exactly() {
    let test_started = Instant::now();
    let Some(db) = start() else { return };

    let settings = db
        .query("", "select @@character_set_server, @@collation_server, @@time_zone, now() = utc_timestamp()");
    assert_eq!(settings, vec![vec![some("utf8mb4"), some("utf8mb4_unicode_ci"), some("+00:00"), some("1")]]);

    db.exec(
        "",
        "create database t;
         create table t.v (
           id int primary key,
           n int,
           x double,
           at datetime(6) null,
           s varchar(255) character set utf8mb4 collate utf8mb4_unicode_ci
         );",
    );
    let tricky = "caf\u{e9} \u{1F600}\ttab\nnewline\r\\ <&>\"' end";
    db.exec(
        "t",
        "insert into v values
           (1, 42, 0.1e0 + 0.2e0, '2024-02-29 23:59:59.123456', 'caf\u{e9} \u{1F600}\\ttab\\nnewline\\r\\\\ <&>\"'' end'),
           (2, null, 1e-300, null, 'NULL'),
           (3, -7, 1e0 / 3e0, '1970-01-01 00:00:00.000001', ''),
           (4, 0, null, null, null);",
    );
    let rows = db.query("t", "select id, n, x, at, s from v order by id");
    assert_eq!(rows.len(), 4, "{rows:?}");

    assert_eq!(rows[0][..2], [some("1"), some("42")]);
    assert_double(&rows[0][2], 0.1 + 0.2);
    assert_eq!(rows[0][2].as_deref(), Some("0.30000000000000004"));
    assert_eq!(rows[0][3..], [some("2024-02-29 23:59:59.123456"), some(tricky)]);

    // A NULL and the string 'NULL' come back apart.
    assert_eq!(rows[1][..2], [some("2"), None]);
    assert_double(&rows[1][2], 1e-300);
    assert_eq!(rows[1][3..], [None, some("NULL")]);

    assert_eq!(rows[2][..2], [some("3"), some("-7")]);
    assert_double(&rows[2][2], 1.0 / 3.0);
    assert_eq!(rows[2][3..], [some("1970-01-01 00:00:00.000001"), some("")]);

    assert_eq!(rows[3], vec![some("4"), some("0"), None, None, None]);

    // The same string, byte for byte, as the server sees it.
    let hex: String = tricky.bytes().map(|b| format!("{b:02X}")).collect();
    assert_eq!(db.query("t", "select hex(s) from v where id = 1"), vec![vec![some(&hex)]]);
    // Statements before the one result set are fine; an empty result set has no rows.
    assert_eq!(
        db.query("t", "set @a = 5; select id from v where id > @a"),
        Vec::<Vec<Option<String>>>::new()
    );
    // The one loss of the XML output: a NUL byte comes back as a space.
    assert_eq!(db.query("", "select concat('a', char(0), 'b')"), vec![vec![some("a b")]]);

    // Failing SQL is an error naming it; exec stops at the first failing statement.
    let err = db.try_exec(
        "t",
        "insert into v values (5, 1, 1, null, 'x'); selec 1; insert into v values (6, 1, 1, null, 'y');",
    );
    let err = err.expect_err("a syntax error");
    assert!(err.contains("ERROR 1064") && err.contains("selec 1"), "{err}");
    assert_eq!(db.query("t", "select group_concat(id order by id) from v"), vec![vec![some("1,2,3,4,5")]]);
    let err = db.try_exec("t", "select * from missing").expect_err("no such table");
    assert!(err.contains("ERROR 1146") && err.contains("t.missing"), "{err}");
    assert!(db.try_exec("nosuchdb", "select 1").is_err());
    assert_eq!(db.try_exec("t", "select count(*) from v").as_deref(), Ok("count(*)\n5\n"));

    // The root user also connects over TCP on 127.0.0.1.
    let out = db
        .client("")
        .args(["--protocol=tcp", "--host=127.0.0.1", "--skip-column-names", "--execute=select 7"])
        .arg(format!("--port={}", db.port()))
        .output()
        .expect("run mariadb");
    assert!(out.status.success(), "TCP: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "7\n");

    let stopped = Instant::now();
    let dir = db.dir().to_path_buf();
    drop(db);
    assert!(!dir.exists(), "{} is left behind", dir.display());
    eprintln!("mariadb: server stopped and removed in {:?}", stopped.elapsed());
    eprintln!("mariadb: values_round_trip_exactly took {:?}", test_started.elapsed());
}

#[test]
fn source_file_loads_a_csv_from_a_relative_path() {
    let test_started = Instant::now();
    let Some(db) = start() else { return };
    db.exec("", "create database l");
    db.exec(
        "l",
        "create table grades (user_id int, course varchar(255), grade double null, passed datetime(6) null)",
    );

    let work = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(work.path().join("csv")).expect("csv folder");
    std::fs::write(
        work.path().join("csv/grades.csv"),
        "user_id,course,grade,passed\n\
         1,course-v1:org+c+run,0.5,2024-01-02 03:04:05.000006\n\
         2,\"with, comma \u{1F600}\",\\N,\\N\n\
         3,plain,0.30000000000000004,\n",
    )
    .expect("csv");
    let script = work.path().join("load.sql");
    std::fs::write(
        &script,
        "load data local infile 'csv/grades.csv' into table grades
           character set utf8mb4
           fields terminated by ',' optionally enclosed by '\"'
           lines terminated by '\\n'
           ignore 1 lines
           (user_id, course, @grade, @passed)
           set grade = @grade, passed = nullif(@passed, '');
         select count(*) from grades;",
    )
    .expect("script");

    let out =
        db.source_file("l", &script, work.path()).unwrap_or_else(|e| panic!("{e}\n{}", db.server_log()));
    assert_eq!(out, "count(*)\n3\n");
    let rows = db.query("l", "select user_id, course, grade, passed from grades order by user_id");
    assert_eq!(
        rows,
        vec![
            vec![some("1"), some("course-v1:org+c+run"), some("0.5"), some("2024-01-02 03:04:05.000006")],
            vec![some("2"), some("with, comma \u{1F600}"), None, None],
            vec![some("3"), some("plain"), some("0.30000000000000004"), None],
        ]
    );
    assert_double(&rows[2][2], 0.1 + 0.2);

    // The same relative path from another directory: the client cannot find the file.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let err = db.source_file("l", &script, elsewhere.path()).expect_err("no csv/grades.csv there");
    assert!(err.contains("csv/grades.csv"), "{err}");
    eprintln!("mariadb: source_file_loads_a_csv_from_a_relative_path took {:?}", test_started.elapsed());
}
