//! The workloads, one file per family.

pub(crate) mod durable;
pub(crate) mod fill;
pub(crate) mod hit_ratio;
pub(crate) mod inmem;
pub(crate) mod memory;
