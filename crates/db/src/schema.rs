// Portable types only (BigInt, Text, Bool, Timestamp, Binary): the same definitions serve
// SQLite and PostgreSQL. Keep in step with both folders under migrations/.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        email -> Text,
        role -> Text,
        password_hash -> Text,
        disabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    totp_factors (user_id) {
        user_id -> BigInt,
        secret_ciphertext -> Binary,
        confirmed_at -> Nullable<Timestamp>,
        last_step -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> BigInt,
        user_id -> BigInt,
        code_hash -> Binary,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    servers (id) {
        id -> BigInt,
        owner_id -> BigInt,
        name -> Text,
        license_key_hash -> Binary,
        license_key_ciphertext -> Binary,
        license_key_last4 -> Text,
        license_status -> Text,
        grace_expires_at -> Nullable<Timestamp>,
        license_issued_at -> Timestamp,
        license_rotated_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        action -> Text,
        target -> Nullable<BigInt>,
        user_id -> Nullable<BigInt>,
        username -> Nullable<Text>,
        metadata -> Text,
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        owner_id -> BigInt,
        name -> Text,
        prefix -> Text,
        token_hash -> Binary,
        scopes -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(totp_factors -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(servers -> users (owner_id));
diesel::joinable!(server_heartbeats -> servers (server_id));
diesel::joinable!(api_tokens -> users (owner_id));

diesel::table! {
    server_events (id) {
        id -> BigInt,
        server_id -> BigInt,
        at -> Timestamp,
        kind -> Text,
        data -> Text,
        relayed -> Bool,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    servers,
    audit_log,
    api_tokens,
    license_changes,
    server_heartbeats,
    server_events,
    login_failures,
    retired_keys,
    fleet_samples,
    webhooks,
    webhook_events,
    webhook_deliveries,
    webhook_attempts,
    totp_factors,
    recovery_codes
);

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        url -> Text,
        description -> Text,
        events -> Text,
        enabled -> Bool,
        secret_ciphertext -> Binary,
        previous_secret_ciphertext -> Nullable<Binary>,
        previous_secret_expires_at -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> BigInt,
        msg_id -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        at -> Timestamp,
        payload -> Text,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        event_id -> BigInt,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        claimed_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        webhook_id -> BigInt,
        at -> Timestamp,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
        response_head -> Text,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhook_deliveries -> webhook_events (event_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));

diesel::table! {
    license_changes (rev) {
        rev -> BigInt,
        server_id -> BigInt,
        key_hash -> Binary,
        at -> Timestamp,
    }
}

diesel::table! {
    server_heartbeats (server_id) {
        server_id -> BigInt,
        last_heartbeat_at -> Timestamp,
        installed_version -> Text,
        last_heartbeat_ip -> Nullable<Text>,
        offline_since -> Nullable<Timestamp>,
    }
}

diesel::table! {
    retired_keys (key_hash) {
        key_hash -> Binary,
        server_id -> BigInt,
        retired_at -> Timestamp,
    }
}

diesel::table! {
    fleet_samples (slot) {
        slot -> BigInt,
        at -> Timestamp,
        active -> Nullable<BigInt>,
        grace -> Nullable<BigInt>,
        expired -> Nullable<BigInt>,
        online -> Nullable<BigInt>,
        late -> Nullable<BigInt>,
        offline -> Nullable<BigInt>,
        never -> Nullable<BigInt>,
        old_keys_in_use -> Nullable<BigInt>,
        versions -> Nullable<Text>,
    }
}

diesel::table! {
    login_failures (scope, subject) {
        scope -> Text,
        subject -> Text,
        window_start -> Timestamp,
        failures -> BigInt,
        last_at -> Timestamp,
    }
}

diesel::table! {
    storage_probe (id) {
        id -> BigInt,
        at -> Timestamp,
    }
}
