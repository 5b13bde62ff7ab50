//! Routing, the attempt loop, and request settlement.
