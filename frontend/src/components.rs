pub mod license_card;
pub mod status_badge;
