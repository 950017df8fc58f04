//! The database schema, hand-written so that it only uses types both
//! backends share (BigInt ids, Integer, Text, Bool, Timestamp as UTC).

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        email -> Text,
        password_hash -> Nullable<Text>,
        display_name -> Text,
        bio -> Text,
        area -> Nullable<Text>,
        reputation -> Integer,
        token_version -> Integer,
        suspended_until -> Nullable<Timestamp>,
        suspension_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    user_roles (user_id, role) {
        user_id -> BigInt,
        role -> Text,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        family_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> BigInt,
        account_key -> Text,
        ip -> Text,
        failed_at -> Timestamp,
    }
}

diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(refresh_tokens -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(users, user_roles, refresh_tokens, login_failures);
