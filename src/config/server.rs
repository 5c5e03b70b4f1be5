//! Where pinbridge listens and is reached, and the database it keeps its state in.

use std::time::Duration;

use anyhow::{Context, bail};

use super::raw::Raw;

/// Where pinbridge listens and the address providers reach it at.
#[derive(Debug, Clone)]
pub struct Server {
    /// `PINBRIDGE_LISTEN`: address and port to listen on. Default `127.0.0.1:8080`.
    pub listen: Listen,
    /// `PINBRIDGE_PUBLIC_URL`: the address providers reach this server at, without a trailing
    /// slash; the base of the applet URLs printed at start, of the URLs put in provider answers
    /// and of the URLs signatures are checked against. Unset: see [`Server::public_base_url`].
    pub public_url: Option<String>,
}

/// `PINBRIDGE_LISTEN` split into host and port (`127.0.0.1:8080`, `[::]:8080`,
/// `localhost:8080`); port 0 lets the system pick one, as tests do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// A host name or an IP address (IPv6 in brackets), as written.
    pub host: String,
    /// The port; 0: any free port.
    pub port: u16,
}

impl Listen {
    /// Reads `host:port`. Errors: no port, or one that is not a number of 0 to 65535.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        let Some((host, port)) = text.rsplit_once(':').filter(|(host, _)| !host.is_empty()) else {
            bail!("PINBRIDGE_LISTEN: {text:?} is not host:port, such as 127.0.0.1:8080");
        };
        let port = port
            .parse()
            .with_context(|| format!("PINBRIDGE_LISTEN: {port:?} is not a port number"))?;
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl Server {
    pub(super) fn parse(raw: &Raw) -> anyhow::Result<Self> {
        Ok(Self {
            listen: Listen::parse(&raw.listen)?,
            public_url: raw
                .public_url
                .as_deref()
                .map(|url| url.trim_end_matches('/').to_owned()),
        })
    }

    /// The public base URL without a trailing slash: `PINBRIDGE_PUBLIC_URL`, else `http://` +
    /// the listen host with `port` (the port actually bound, which differs from the configured
    /// one when that is 0).
    pub fn public_base_url(&self, port: u16) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None => format!("http://{}:{port}", self.listen.host),
        }
    }
}

/// The database and how this instance pools its connections to it.
#[derive(Clone)]
pub struct Database {
    /// `PINBRIDGE_DATABASE_URL`: `sqlite://FILE` or `postgres://...`. Default
    /// `sqlite://pinbridge.db` (created if missing, WAL mode). May hold a password: never
    /// printed whole (see `Debug`).
    pub url: String,
    /// `PINBRIDGE_DATABASE_MAX_CONNECTIONS`: most connections this instance's pool opens. With
    /// N instances on one PostgreSQL, N times this must stay below the server's
    /// `max_connections`. Default 8; at least 1 and at least `min_connections`.
    pub max_connections: u32,
    /// `PINBRIDGE_DATABASE_MIN_CONNECTIONS`: connections kept open while idle, so the first
    /// request after a quiet spell does not pay for a connection. Default 1.
    pub min_connections: u32,
    /// `PINBRIDGE_DATABASE_ACQUIRE_TIMEOUT`: longest a request waits for a pooled connection,
    /// including opening a new one; while the database is unreachable, webhook answers fall back
    /// after at most this (and never after more than `PINBRIDGE_WEBHOOK_TIMEOUT`). Default `1s`;
    /// above 0.
    pub acquire_timeout: Duration,
    /// `PINBRIDGE_DATABASE_STATEMENT_TIMEOUT`: longest one statement may run; PostgreSQL's
    /// `statement_timeout` on every connection, SQLite's `busy_timeout` (the wait for another
    /// writer). Default `2s`; above 0.
    pub statement_timeout: Duration,
    /// `PINBRIDGE_SQLITE_MAX_SIZE_MB` in bytes: SQLite only, the most the database file may
    /// hold. Past it, writes fail as on a full disk: the admin API answers 503, `/readyz` says
    /// not ready, calls get the fallback answer, until rows are purged or deleted (pages freed
    /// within the file are reused). Keeps the database from filling a disk it shares. A
    /// database already larger stops growing at its size. Written in MiB, 1 to 8388608
    /// (8 TiB); default: unset, no bound but the disk's.
    pub sqlite_max_bytes: Option<u64>,
    /// `PINBRIDGE_DATABASE_CONNECT_RETRY`: how long `pinbridge` (any command) keeps trying to
    /// reach the database at start before it gives up (once a second), so an instance can start
    /// before its database. `0s`: try once. Once running, lost connections are reopened by
    /// themselves. Default `60s`.
    pub connect_retry: Duration,
}

/// One mebibyte: `PINBRIDGE_SQLITE_MAX_SIZE_MB` is written in these.
const MIB: u64 = 1024 * 1024;

/// The largest SQLite bound accepted: 8 TiB, far below SQLite's own limit.
const SQLITE_MAX_BYTES: u64 = 8 * 1024 * 1024 * MIB;

impl Database {
    pub(super) fn parse(raw: &Raw) -> anyhow::Result<Self> {
        let sqlite_max_bytes = raw
            .sqlite_max_size_mb
            .map(|mb| {
                mb.checked_mul(MIB)
                    .filter(|bytes| (MIB..=SQLITE_MAX_BYTES).contains(bytes))
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "PINBRIDGE_SQLITE_MAX_SIZE_MB must be between 1 and 8388608 (8 TiB)"
                        )
                    })
            })
            .transpose()?;
        Ok(Self {
            url: raw.database_url.clone(),
            max_connections: raw.database_max_connections,
            min_connections: raw.database_min_connections,
            acquire_timeout: raw.database_acquire_timeout,
            statement_timeout: raw.database_statement_timeout,
            sqlite_max_bytes,
            connect_retry: raw.database_connect_retry,
        })
    }

    /// Checks what types alone do not: a pool of at least one connection and at least its
    /// minimum, timeouts above 0, a SQLite bound of 1 MiB to 8 TiB.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if self.max_connections == 0 || self.min_connections > self.max_connections {
            bail!(
                "PINBRIDGE_DATABASE_MAX_CONNECTIONS must be at least 1 and at least PINBRIDGE_DATABASE_MIN_CONNECTIONS"
            );
        }
        if self.acquire_timeout.is_zero() || self.statement_timeout.is_zero() {
            bail!(
                "PINBRIDGE_DATABASE_ACQUIRE_TIMEOUT and PINBRIDGE_DATABASE_STATEMENT_TIMEOUT must be above 0s"
            );
        }
        if self
            .sqlite_max_bytes
            .is_some_and(|bytes| !(MIB..=SQLITE_MAX_BYTES).contains(&bytes))
        {
            bail!("PINBRIDGE_SQLITE_MAX_SIZE_MB must be between 1 and 8388608 (8 TiB)");
        }
        Ok(())
    }

    /// The database's kind as its URL names it (`sqlite`, `postgres`), without the rest of
    /// the URL, which may hold a password.
    pub fn scheme(&self) -> &str {
        self.url.split(':').next().unwrap_or_default()
    }
}

/// The URL's password never prints: only the scheme does.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("url", &format_args!("{}:…", self.scheme()))
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("sqlite_max_bytes", &self.sqlite_max_bytes)
            .field("connect_retry", &self.connect_retry)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_env;

    #[test]
    fn the_public_url_defaults_to_the_bound_port() {
        let s = load_env(&[("PINBRIDGE_LISTEN", "127.0.0.1:0")]).unwrap();
        assert_eq!(s.server.public_base_url(43210), "http://127.0.0.1:43210");
        let s = load_env(&[("PINBRIDGE_PUBLIC_URL", "https://masking.example.com/")]).unwrap();
        assert_eq!(
            s.server.public_base_url(8080),
            "https://masking.example.com"
        );
    }

    #[test]
    fn the_listen_address_is_read_once_into_host_and_port() {
        let s = load_env(&[("PINBRIDGE_LISTEN", "[::]:9090")]).unwrap();
        assert_eq!(
            (s.server.listen.host.as_str(), s.server.listen.port),
            ("[::]", 9090)
        );
        assert_eq!(s.server.listen.to_string(), "[::]:9090");
        for bad in ["localhost", ":8080", "0.0.0.0:http", "0.0.0.0:70000"] {
            let e = load_env(&[("PINBRIDGE_LISTEN", bad)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("PINBRIDGE_LISTEN"), "{bad}: {e}");
        }
    }

    #[test]
    fn database_settings_are_checked_naming_the_setting() {
        for bad in [
            &[
                ("PINBRIDGE_DATABASE_MAX_CONNECTIONS", "2"),
                ("PINBRIDGE_DATABASE_MIN_CONNECTIONS", "3"),
            ][..],
            &[("PINBRIDGE_DATABASE_ACQUIRE_TIMEOUT", "0s")],
            &[("PINBRIDGE_SQLITE_MAX_SIZE_MB", "0")],
            &[("PINBRIDGE_SQLITE_MAX_SIZE_MB", "8388609")],
        ] {
            let e = load_env(bad).unwrap_err().to_string();
            assert!(e.contains("PINBRIDGE_"), "{e}");
        }
        let bounded = load_env(&[("PINBRIDGE_SQLITE_MAX_SIZE_MB", "512")]).unwrap();
        assert_eq!(bounded.database.sqlite_max_bytes, Some(512 * 1024 * 1024));
        assert_eq!(load_env(&[]).unwrap().database.sqlite_max_bytes, None);
    }
}
