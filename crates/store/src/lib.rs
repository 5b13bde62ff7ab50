//! Ledger storage (SQLite/PostgreSQL) and shared counters (Redis).
