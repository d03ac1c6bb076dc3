//! One point in time across connections.
//!
//! Each connection reads inside `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY` at
//! `REPEATABLE READ`. A snapshot belongs to one connection, so several connections see the same
//! moment only when their snapshots start while nothing commits: with more than one thread the
//! first connection takes `FLUSH TABLES WITH READ LOCK` (as `mydumper` does; it needs the
//! `RELOAD` privilege and holds commits back for the milliseconds the others take to start
//! theirs), every connection starts its snapshot, and the lock is released. Without the
//! privilege the import reads on one connection, consistent, with a notice.
//!
//! The snapshot's moment is `UTC_TIMESTAMP(6)` read inside it: the default `--as-of`.

use anyhow::{Context, Result};
use mysql::prelude::Queryable;
use mysql::Conn;

use super::connect::Server;
use super::convert::{self, At};
use crate::py::time::Timestamp;

/// A connection reading inside a snapshot.
pub(crate) struct Session {
    pub(crate) conn: Conn,
    /// When its snapshot started (server clock, UTC).
    pub(crate) started: Timestamp,
}

/// How the sessions were made to agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Agreement {
    /// One connection: its own snapshot.
    OneConnection,
    /// Several connections, their snapshots started under `FLUSH TABLES WITH READ LOCK`.
    ReadLock,
}

fn begin(conn: &mut Conn) -> Result<Timestamp> {
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")?;
    let now: Option<mysql::Value> = conn.query_first("SELECT UTC_TIMESTAMP(6)")?;
    let at = At { table: "UTC_TIMESTAMP(6)", column: "value", key: 0 };
    convert::datetime(&now.unwrap_or(mysql::Value::NULL), at)?.context("the server returned no UTC_TIMESTAMP")
}

/// One session, its own snapshot (also used to replace a dropped connection).
pub(crate) fn open_one(server: &Server) -> Result<Session> {
    let mut conn = server.connect()?;
    let started =
        begin(&mut conn).with_context(|| format!("cannot start a snapshot on {}", server.shown()))?;
    Ok(Session { conn, started })
}

/// `threads` sessions that see the same moment (fewer when the server refuses the read lock).
pub(crate) fn open(server: &Server, threads: usize) -> Result<(Vec<Session>, Agreement)> {
    let mut first = server.connect()?;
    if threads <= 1 {
        let started = begin(&mut first)?;
        return Ok((vec![Session { conn: first, started }], Agreement::OneConnection));
    }
    if let Err(e) = first.query_drop("FLUSH TABLES WITH READ LOCK") {
        tracing::warn!(
            "cannot synchronise {threads} snapshots ({e}; FLUSH TABLES WITH READ LOCK needs the RELOAD privilege): \
             reading on one connection"
        );
        let started = begin(&mut first)?;
        return Ok((vec![Session { conn: first, started }], Agreement::OneConnection));
    }
    let mut conns = vec![first];
    let opened = (1..threads).try_for_each(|_| -> Result<()> {
        conns.push(server.connect()?);
        Ok(())
    });
    let mut sessions = Vec::with_capacity(threads);
    let begun = opened.and_then(|()| {
        for mut conn in conns.drain(..) {
            let started = begin(&mut conn)?;
            sessions.push(Session { conn, started });
        }
        Ok(())
    });
    // The lock belongs to the first connection; release it whatever happened.
    let unlock = match sessions.first_mut() {
        Some(s) => s.conn.query_drop("UNLOCK TABLES"),
        None => conns.first_mut().map_or(Ok(()), |c| c.query_drop("UNLOCK TABLES")),
    };
    begun?;
    unlock.context("UNLOCK TABLES")?;
    Ok((sessions, Agreement::ReadLock))
}

/// The session's TLS version (`Ssl_version`), `None` when the connection is not encrypted.
pub(crate) fn tls_version(conn: &mut Conn) -> Result<Option<String>> {
    let row: Option<(String, String)> = conn.query_first("SHOW SESSION STATUS LIKE 'Ssl_version'")?;
    Ok(row.map(|(_, v)| v).filter(|v| !v.is_empty()))
}
