//! The long-running `mlsync run` daemon: leader election among replicas ([`leader`]).

pub mod leader;
