pub mod account;
pub mod admin_servers;
pub mod admin_user;
pub mod admin_users;
pub mod audit_log;
pub mod dashboard;
pub mod fleet;
pub mod login;
