//! Prometheus text exposition parser.
