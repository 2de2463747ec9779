//! Unit tests of queries: parsing and its errors, evaluation over a
//! history, and the history's bounds.

mod eval;
mod parse;
