//! Store errors.

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is neither `sqlite:` nor `postgres://` / `postgresql://`.
    #[error("unsupported ledger URL scheme (expected sqlite: or postgres://): {0}")]
    UnsupportedUrl(String),
    /// A database error (connect, query, decode).
    #[error("ledger database error ({backend}): {source}")]
    Database {
        /// `"SQLite"` or `"PostgreSQL"`.
        backend: &'static str,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// Applying the schema migrations failed.
    #[error("ledger migrations failed ({backend}): {source}")]
    Migrate {
        /// `"SQLite"` or `"PostgreSQL"`.
        backend: &'static str,
        /// The migration error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// Reading or writing the spill file failed.
    #[error("ledger spill file {path}: {source}")]
    Spill {
        /// The spill file.
        path: std::path::PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A stored value could not be decoded into a row.
    #[error("ledger row {id}: {reason}")]
    Decode {
        /// Row id.
        id: String,
        /// What was wrong.
        reason: String,
    },
    /// The writer task panicked or was cancelled.
    #[error("ledger writer task failed: {0}")]
    Writer(String),
}
