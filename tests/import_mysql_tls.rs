//! `regrade import mysql` and TLS, against a MariaDB server started with a certificate this
//! test makes (`openssl` command line): `ssl-mode` as the `mysql` client has it, and the manifest
//! saying which TLS version the import used.
//!
//! Needs `mariadbd` and `openssl`; skipped with a message when either is missing, unless
//! `REGRADE_REQUIRE_MARIADB=1` (set by `.ci/run`, which installs both).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::mariadb::MariaDb;

const DB: &str = "edxapp";

fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).output().expect("run sh");
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA and a server certificate for 127.0.0.1 signed by it, plus a second, unrelated CA.
fn certificates(dir: &Path) -> bool {
    if Command::new("openssl").arg("version").output().is_err() {
        let msg = "`openssl` is not installed (Debian: apt-get install openssl)";
        if std::env::var(common::mariadb::REQUIRE_VAR).is_ok_and(|v| v == "1") {
            panic!("{msg}");
        }
        eprintln!("\n*** SKIPPING TLS TEST: {msg} ***\n");
        return false;
    }
    let subject = |cn: &str| format!("-subj '/CN={cn}'");
    sh(
        dir,
        &format!(
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 {} 2>/dev/null",
            subject("regrade test CA")
        ),
    );
    sh(dir, &format!("openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 {} 2>/dev/null", subject("another CA")));
    sh(
        dir,
        &format!(
            "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr {} 2>/dev/null",
            subject("127.0.0.1")
        ),
    );
    sh(dir, "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext.cnf && \
             openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
             -extfile ext.cnf 2>/dev/null");
    true
}

fn load(db: &MariaDb) {
    db.exec("", &format!("CREATE DATABASE {DB}"));
    let mut ddl = String::from("SET FOREIGN_KEY_CHECKS=0;\n");
    for (_, text) in regrade::schema::MYSQL_DDL.iter().chain(&regrade::schema::MYSQL_SOURCE_DDL) {
        ddl.push_str(text);
        ddl.push('\n');
    }
    ddl.push_str(
        "INSERT INTO student_courseenrollment (course_id, created, is_active, mode, user_id) \
         VALUES ('course-v1:Org+Tls+1', '2026-01-01', 1, 'audit', 1);",
    );
    db.exec(DB, &ddl);
}

fn import(db: &MariaDb, params: &str, out: &Path) -> Output {
    let url = format!("mysql://root@127.0.0.1:{}/{DB}{params}", db.port());
    Command::new(env!("CARGO_BIN_EXE_regrade"))
        .args(["import", "mysql", "--url", &url, "--output", &out.display().to_string()])
        .env_remove("MYSQL_PWD")
        .output()
        .expect("run regrade")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The manifest's `tls` of a successful import.
fn tls_of(res: &Output, out: &Path) -> serde_json::Value {
    assert!(res.status.success(), "{}", text(res));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    m["tls"].clone()
}

#[test]
fn ssl_modes_against_a_server_with_and_without_tls() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    if !certificates(dir) {
        return;
    }
    let opts: Vec<String> = [("ssl-ca", "ca.pem"), ("ssl-cert", "server.pem"), ("ssl-key", "server.key")]
        .iter()
        .map(|(k, f)| format!("--{k}={}", dir.join(f).display()))
        .collect();
    let Some(db) = MariaDb::start_with_options(&opts) else { return };
    load(&db);
    let out = |name: &str| dir.join(name);

    // PREFERRED (the default) encrypts when the server offers TLS.
    let res = import(&db, "", &out("preferred"));
    let tls = tls_of(&res, &out("preferred"));
    assert!(tls.as_str().is_some_and(|v| v.starts_with("TLS")), "{tls}: {}\n{}", text(&res), db.server_log());
    // DISABLED does not.
    assert_eq!(
        tls_of(&import(&db, "?ssl-mode=DISABLED", &out("disabled")), &out("disabled")),
        serde_json::Value::Null
    );
    // The VERIFY modes check the certificate against ssl-ca, VERIFY_IDENTITY the host too.
    let ca = dir.join("ca.pem").display().to_string();
    for mode in ["VERIFY_CA", "VERIFY_IDENTITY"] {
        let name = mode.to_lowercase();
        let tls = tls_of(&import(&db, &format!("?ssl-mode={mode}&ssl-ca={ca}"), &out(&name)), &out(&name));
        assert!(tls.as_str().is_some_and(|v| v.starts_with("TLS")), "{mode}: {tls}");
    }
    let other = dir.join("other.pem").display().to_string();
    let res = import(&db, &format!("?ssl-mode=VERIFY_CA&ssl-ca={other}"), &out("wrong-ca"));
    assert_eq!(res.status.code(), Some(2), "a certificate another CA signed is refused: {}", text(&res));
    assert!(text(&res).contains("cannot connect"), "{}", text(&res));
    assert!(!out("wrong-ca").join("manifest.json").exists());

    // REQUIRED refuses a server without TLS; PREFERRED falls back to plain.
    let Some(plain) = MariaDb::start() else { return };
    load(&plain);
    let res = import(&plain, "?ssl-mode=REQUIRED", &out("required"));
    assert_eq!(res.status.code(), Some(2), "{}", text(&res));
    assert!(text(&res).contains("offers no TLS"), "{}", text(&res));
    assert_eq!(tls_of(&import(&plain, "", &out("plain")), &out("plain")), serde_json::Value::Null);
}
