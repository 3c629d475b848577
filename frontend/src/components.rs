pub mod error_view;
pub mod license_card;
pub mod status_badge;
