//! Operator commands on the data: opening the database (`storage`), the data-directory
//! lock, backup, restore and data-key rotation (`maintenance`), the copy to PostgreSQL
//! (`migrate`) and the development seed (`seed`).

pub mod maintenance;
pub(crate) mod migrate;
pub(crate) mod seed;
pub(crate) mod storage;
