pub mod error_view;
pub mod filter_select;
pub mod icons;
pub mod license_card;
pub mod list_total;
pub mod search_field;
pub mod status_badge;
pub mod user_picker;
