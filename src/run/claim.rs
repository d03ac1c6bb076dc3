//! The claim on an output folder: one run writes a folder at a time.
//!
//! Before its first write, a run creates `_journal/_claim.json` with a conditional create
//! (`PutMode::Create`: `If-None-Match: *` on S3, an exclusive link on a local folder), naming
//! the command, the host, the process and when it started. A second run finds the claim and
//! is refused with those details. The claim is removed when the run ends (published or
//! failed); one left by a crash or a kill is stale, and only `--resume` or `--overwrite` take
//! it over, never while its process still runs on this host. The take-over is itself
//! conditional (`PutMode::Update` on the stale claim's ETag) where the store supports it.

use anyhow::Result;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::journal::{self, CLAIM_FILE, JOURNAL};
use super::RunOptions;
use crate::error::UsageError;
use crate::store::Location;

/// Who holds a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Holder {
    /// Unique to the run: a claim is released only by the run that holds it.
    pub token: String,
    pub command: String,
    pub host: String,
    pub pid: u32,
    /// The process's start time (Linux: clock ticks after boot), to tell a reused process id.
    #[serde(default)]
    pub process_start: Option<u64>,
    pub started_at: String,
    pub tool_version: String,
}

impl Holder {
    fn me(command: &str) -> Self {
        let pid = std::process::id();
        let now = chrono::Utc::now();
        Holder {
            token: format!("{}-{pid}-{}", hostname(), now.timestamp_nanos_opt().unwrap_or_default()),
            command: command.to_string(),
            host: hostname(),
            pid,
            process_start: process_start(pid),
            started_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// `regrade run started 2026-06-01T00:00:00Z on host H (process 123)`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "regrade {} started {} on host {} (process {})",
            self.command, self.started_at, self.host, self.pid
        )
    }

    /// The holder's process is still running on this machine.
    fn alive_here(&self) -> bool {
        if self.host != hostname() || self.pid == std::process::id() {
            return false;
        }
        match (self.process_start, process_start(self.pid)) {
            (Some(a), Some(b)) => a == b,
            (None, Some(_)) => true,
            (_, None) => pid_exists(self.pid),
        }
    }
}

/// This machine's name (`gethostname`).
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_string();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// A process's start time from `/proc/PID/stat` (field 22), where there is one.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn pid_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A claim this run holds; [`Claim::release`] it when the run ends.
#[derive(Debug)]
pub(crate) struct Claim {
    path: Path,
    holder: Holder,
    /// The stale claim this one replaced, put back if the run is refused before it changes
    /// anything.
    replaced: Option<Bytes>,
}

fn refused(message: String) -> anyhow::Error {
    UsageError::new(message).into()
}

impl Claim {
    /// Claim `output` for this run (see the module docs).
    pub(crate) async fn take(output: &Location, opts: &RunOptions) -> Result<Claim> {
        let command = match opts.command {
            super::Command::Run => "run",
            super::Command::Backfill => "backfill",
        };
        Self::take_as(output, CLAIM_FILE, command, opts.resume || opts.overwrite).await
    }

    /// Claim `output` through `_journal/<file>` for `command`: a stale claim is taken over
    /// only when `take_stale` (a shard claims `_claim.shard-K.json`, and so shards of one run
    /// write the folder side by side, each alone in its own courses: [`super::shard`]).
    pub(crate) async fn take_as(
        output: &Location,
        file: &str,
        command: &str,
        take_stale: bool,
    ) -> Result<Claim> {
        let path = output.path(&[JOURNAL, file]);
        let me = Holder::me(command);
        let body = Bytes::from(serde_json::to_vec_pretty(&me)?);
        let mut claim = Claim { path: path.clone(), holder: me, replaced: None };
        for _ in 0..3 {
            match put(output, &path, &body, PutMode::Create).await {
                Ok(()) => return Ok(claim),
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(object_store::Error::NotImplemented { .. }) => {
                    return claim.take_unconditionally(output, &body).await;
                }
                Err(e) => return Err(cannot(output, e)),
            }
            let (holder, version, stale) = match output.store.get(&path).await {
                Ok(got) => {
                    let version =
                        UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
                    let bytes = got.bytes().await.map_err(|e| cannot(output, e))?;
                    (serde_json::from_slice::<Holder>(&bytes).ok(), version, bytes)
                }
                // Released in the meantime: try again.
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(cannot(output, e)),
            };
            // A create retried after the store had done it (its answer lost) finds our own claim.
            if holder.as_ref().is_some_and(|h| h.token == claim.holder.token) {
                return Ok(claim);
            }
            let who = holder
                .as_ref()
                .map_or("a regrade run (its claim is unreadable)".to_string(), Holder::describe);
            if let Some(h) = holder.as_ref().filter(|h| h.alive_here()) {
                return Err(refused(format!(
                    "the output folder '{}' is being written by another {who}, still running on this \
                     host; two runs must not write one folder: wait for it to finish, or choose another \
                     folder (if it hangs, stop process {} first, then pass --resume or --overwrite)",
                    output.url, h.pid
                )));
            }
            if !take_stale {
                return Err(refused(format!(
                    "the output folder '{}' is claimed by another {who} ({JOURNAL}/{file}); two runs \
                     must not write one folder. If that run is still going, wait for it or choose another \
                     folder; if it stopped (a crash, a kill, a lost machine), pass --resume to go on with \
                     it or --overwrite to replace it",
                    output.url
                )));
            }
            claim.take_over(output, &body, version).await?;
            claim.replaced = Some(stale);
            tracing::warn!(holder = %who, output = %output.url, "took over the claim of an interrupted run");
            return Ok(claim);
        }
        Err(refused(format!(
            "the output folder '{}' is being claimed and released by other runs over and over; make \
             sure one run at a time writes it",
            output.url
        )))
    }

    /// Replace a stale claim, only if it is still the one read (`version`).
    async fn take_over(&self, output: &Location, body: &Bytes, version: UpdateVersion) -> Result<()> {
        let lost = || {
            refused(format!(
                "the output folder '{}': another run took over the stale claim at the same moment, \
                 and only one run may write the folder; let that run finish ({JOURNAL}/{CLAIM_FILE} \
                 names it)",
                output.url
            ))
        };
        match put(output, &self.path, body, PutMode::Update(version.clone())).await {
            Ok(()) => return Ok(()),
            Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
                // Unless an update retried after the store had done it finds our own claim.
                return if self.is_ours(output).await { Ok(()) } else { Err(lost()) };
            }
            Err(object_store::Error::NotImplemented { .. }) => {}
            Err(e) => return Err(cannot(output, e)),
        }
        // No conditional update (a local folder): remove the stale claim if unchanged, then
        // create ours exclusively.
        let now = output.store.head(&self.path).await;
        if let Ok(meta) = &now {
            if meta.e_tag != version.e_tag {
                return Err(lost());
            }
            journal::remove(output, std::slice::from_ref(&self.path)).await?;
        }
        match put(output, &self.path, body, PutMode::Create).await {
            Ok(()) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => Err(lost()),
            Err(e) => Err(cannot(output, e)),
        }
    }

    /// A store without conditional writes: check, then write (not exclusive; said so).
    async fn take_unconditionally(self, output: &Location, body: &Bytes) -> Result<Claim> {
        tracing::warn!(
            output = %output.url,
            "the object store does not support conditional writes: the claim on the output folder \
             cannot keep a second run out; run one job per folder"
        );
        if let Ok(got) = output.store.get(&self.path).await {
            let bytes = got.bytes().await.map_err(|e| cannot(output, e))?;
            let who = serde_json::from_slice::<Holder>(&bytes)
                .map_or("a regrade run".to_string(), |h| h.describe());
            return Err(refused(format!(
                "the output folder '{}' is claimed by another {who} ({JOURNAL}/{CLAIM_FILE}); if that run \
                 stopped, delete that file and pass --resume or --overwrite",
                output.url
            )));
        }
        put(output, &self.path, body, PutMode::Overwrite).await.map_err(|e| cannot(output, e))?;
        Ok(self)
    }

    /// Whether the claim in the store is this run's.
    async fn is_ours(&self, output: &Location) -> bool {
        match output.store.get(&self.path).await {
            Ok(got) => got
                .bytes()
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<Holder>(&b).ok())
                .is_some_and(|h| h.token == self.holder.token),
            Err(_) => false,
        }
    }

    /// Remove the claim, if it is still this run's; with `restore`, put back the stale claim
    /// it took over (a run refused before it changed anything leaves the folder as it was).
    pub(crate) async fn release(self, output: &Location, restore: bool) {
        let ours = self.is_ours(output).await;
        if !ours {
            tracing::warn!(output = %output.url, "the claim on the output folder is no longer this run's; left alone");
            return;
        }
        let done = match self.replaced.filter(|_| restore) {
            Some(stale) => {
                put(output, &self.path, &stale, PutMode::Overwrite).await.map_err(anyhow::Error::from)
            }
            None => journal::remove(output, std::slice::from_ref(&self.path)).await,
        };
        if let Err(e) = done {
            tracing::warn!(error = %format!("{e:#}"), "could not release the claim ({JOURNAL}/{CLAIM_FILE}); the next run there needs --resume or --overwrite");
        }
    }
}

async fn put(output: &Location, path: &Path, body: &Bytes, mode: PutMode) -> object_store::Result<()> {
    let opts = PutOptions { mode, ..PutOptions::default() };
    output.store.put_opts(path, PutPayload::from_bytes(body.clone()), opts).await.map(|_| ())
}

fn cannot(output: &Location, e: object_store::Error) -> anyhow::Error {
    anyhow::Error::new(e).context(format!(
        "cannot claim the output folder '{}' ({JOURNAL}/{CLAIM_FILE}); check the URL, the credentials \
         and that the folder is writable",
        output.url
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::options::{Job, RunOptions};

    fn opts(resume: bool, overwrite: bool) -> RunOptions {
        let job = Job::parse("input = \"memory://x/in\"\noutput = \"memory://x/out\"", "job").expect("job");
        RunOptions { resume, overwrite, ..RunOptions::resolve(job, 0).expect("options") }
    }

    /// On an object store with conditional puts (memory:// here, as S3), a second claim is
    /// refused naming the holder; after a release it succeeds; a stale claim is taken over
    /// only with --resume or --overwrite, conditionally on its version.
    #[tokio::test]
    async fn claims_are_exclusive_on_object_stores() {
        let output = crate::store::open_output("memory://claims/out").expect("store");
        let first = Claim::take(&output, &opts(false, false)).await.expect("first claim");
        let e = Claim::take(&output, &opts(false, false)).await.expect_err("second claim");
        let text = format!("{e:#}");
        assert!(
            text.contains("is claimed by another regrade run started") && text.contains("--resume"),
            "{text}"
        );
        assert!(crate::error::is_usage_or_input(&e));
        // Its process (this one) is alive, but a claim of the same process id counts as stale:
        // the take-over path is exercised with --overwrite.
        let second = Claim::take(&output, &opts(false, true)).await.expect("take over with --overwrite");
        // The first run's release leaves the new holder's claim alone.
        first.release(&output, false).await;
        let e = Claim::take(&output, &opts(false, false)).await.expect_err("still held");
        assert!(format!("{e:#}").contains("is claimed"), "{e:#}");
        second.release(&output, false).await;
        let third = Claim::take(&output, &opts(false, false)).await.expect("free again");
        third.release(&output, false).await;
    }

    #[tokio::test]
    async fn a_take_over_is_conditional_on_the_stale_claims_version() {
        let output = crate::store::open_output("memory://claims2/out").expect("store");
        let stale = Claim::take(&output, &opts(false, false)).await.expect("claim");
        let got = output.store.get(&stale.path).await.expect("claim there");
        let old = UpdateVersion { e_tag: got.meta.e_tag.clone(), version: None };
        // Someone else replaced the claim after we read it: our take-over must lose.
        let other = Claim::take(&output, &opts(true, false)).await.expect("other takes over");
        let e = stale.take_over(&output, &Bytes::from_static(b"{}"), old).await.expect_err("lost the race");
        assert!(format!("{e:#}").contains("took over the stale claim at the same moment"), "{e:#}");
        other.release(&output, false).await;
    }

    #[test]
    fn this_process_is_alive_and_a_dead_one_is_not() {
        let me = Holder::me("run");
        assert!(!me.alive_here(), "our own claim is never 'another run still running'");
        let parent = Holder { pid: std::os::unix::process::parent_id(), process_start: None, ..me.clone() };
        assert!(parent.alive_here());
        let gone = Holder { pid: u32::MAX - 1, process_start: None, ..me };
        assert!(!gone.alive_here());
    }
}
