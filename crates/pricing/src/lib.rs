//! Price catalogs and exact cost computation.
