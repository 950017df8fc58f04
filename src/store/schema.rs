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
        accepted_answers -> Integer,
        expert_notifications -> Bool,
        email_verified_at -> Nullable<Timestamp>,
        email_undeliverable_at -> Nullable<Timestamp>,
        erased_at -> Nullable<Timestamp>,
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

diesel::table! {
    categories (id) {
        id -> BigInt,
        slug -> Text,
        name -> Text,
        description -> Text,
        question_count -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    tags (id) {
        id -> BigInt,
        name -> Text,
        question_count -> Integer,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    questions (id) {
        id -> BigInt,
        author_id -> BigInt,
        category_id -> BigInt,
        title -> Text,
        body -> Text,
        body_html -> Text,
        area -> Nullable<Text>,
        score -> Integer,
        answer_count -> Integer,
        view_count -> BigInt,
        accepted_answer_id -> Nullable<BigInt>,
        has_verified_answer -> Bool,
        status -> Text,
        closed_at -> Nullable<Timestamp>,
        close_reason -> Nullable<Text>,
        duplicate_of -> Nullable<BigInt>,
        locked_at -> Nullable<Timestamp>,
        hidden_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_activity_at -> Timestamp,
    }
}

diesel::table! {
    question_tags (question_id, tag_id) {
        question_id -> BigInt,
        tag_id -> BigInt,
    }
}

diesel::table! {
    answers (id) {
        id -> BigInt,
        question_id -> BigInt,
        author_id -> BigInt,
        body -> Text,
        body_html -> Text,
        score -> Integer,
        verified_at -> Nullable<Timestamp>,
        verified_by -> Nullable<BigInt>,
        review_by -> Nullable<Timestamp>,
        hidden_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    comments (id) {
        id -> BigInt,
        question_id -> BigInt,
        answer_id -> Nullable<BigInt>,
        author_id -> BigInt,
        body -> Text,
        body_html -> Text,
        hidden_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    revisions (id) {
        id -> BigInt,
        post_type -> Text,
        post_id -> BigInt,
        revision -> Integer,
        editor_id -> BigInt,
        title -> Nullable<Text>,
        body -> Text,
        tags -> Nullable<Text>,
        redacted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    votes (id) {
        id -> BigInt,
        voter_id -> BigInt,
        post_type -> Text,
        post_id -> BigInt,
        value -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    question_views (question_id, visitor_key, day) {
        question_id -> BigInt,
        visitor_key -> Text,
        day -> Text,
    }
}

diesel::table! {
    follows (user_id, question_id) {
        user_id -> BigInt,
        question_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        user_id -> BigInt,
        kind -> Text,
        question_id -> Nullable<BigInt>,
        answer_id -> Nullable<BigInt>,
        comment_id -> Nullable<BigInt>,
        actor_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    search_outbox (id) {
        id -> BigInt,
        question_id -> BigInt,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    reputation_events (id) {
        id -> BigInt,
        user_id -> BigInt,
        delta -> Integer,
        points -> Integer,
        reason -> Text,
        source_type -> Text,
        source_id -> BigInt,
        post_type -> Nullable<Text>,
        post_id -> Nullable<BigInt>,
        category_id -> Nullable<BigInt>,
        day -> Text,
        reverses_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    user_category_stats (user_id, category_id) {
        user_id -> BigInt,
        category_id -> BigInt,
        reputation -> Integer,
        accepted_answers -> Integer,
        solved_answers -> Integer,
    }
}

diesel::table! {
    badges (id) {
        id -> BigInt,
        user_id -> BigInt,
        badge -> Text,
        awarded_at -> Timestamp,
    }
}

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    search_gaps (id) {
        id -> BigInt,
        query -> Text,
        kind -> Text,
        results -> Integer,
        category -> Nullable<Text>,
        created_at -> Timestamp,
        area -> Nullable<Text>,
        visitor_id -> Nullable<Text>,
    }
}

diesel::table! {
    flags (id) {
        id -> BigInt,
        reporter_id -> Nullable<BigInt>,
        target_type -> Text,
        target_id -> BigInt,
        question_id -> BigInt,
        target_author_id -> BigInt,
        reason -> Text,
        note -> Nullable<Text>,
        status -> Text,
        resolution -> Nullable<Text>,
        resolved_by -> Nullable<BigInt>,
        resolution_note -> Nullable<Text>,
        resolved_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    close_votes (question_id, voter_id) {
        question_id -> BigInt,
        voter_id -> BigInt,
        reason -> Text,
        duplicate_of -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        actor_id -> Nullable<BigInt>,
        action -> Text,
        target_type -> Text,
        target_id -> Nullable<BigInt>,
        reason -> Nullable<Text>,
        before_state -> Nullable<Text>,
        after_state -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    deflection_events (id) {
        id -> BigInt,
        event_id -> Text,
        #[sql_name = "type"]
        kind -> Text,
        occurred_at -> Timestamp,
        occurred_epoch -> BigInt,
        received_at -> Timestamp,
        visitor_id -> Text,
        session_id -> Nullable<Text>,
        user_id -> Nullable<BigInt>,
        question_id -> Nullable<BigInt>,
        answer_id -> Nullable<BigInt>,
        intent_id -> Nullable<Text>,
        query -> Nullable<Text>,
        result_ids -> Nullable<Text>,
        rank -> Nullable<Integer>,
        value -> Nullable<Text>,
        channel -> Nullable<Text>,
        category -> Nullable<Text>,
        question_solved -> Nullable<Bool>,
        source -> Text,
        excluded -> Bool,
        exclusion_reason -> Nullable<Text>,
        area -> Nullable<Text>,
        address_key -> Nullable<Text>,
    }
}

diesel::table! {
    deflection_pairs (visitor_id, question_id) {
        visitor_id -> Text,
        question_id -> BigInt,
        category -> Text,
        category_at -> Nullable<BigInt>,
        area -> Text,
        area_at -> Nullable<BigInt>,
        solved_view_at -> Nullable<BigInt>,
        first_attempt_after_view_at -> Nullable<BigInt>,
        helpful -> Nullable<Text>,
        helpful_at -> Nullable<BigInt>,
        helpful_event -> Nullable<BigInt>,
        would -> Nullable<Text>,
        would_at -> Nullable<BigInt>,
        would_event -> Nullable<BigInt>,
        intent_confirmed_at -> Nullable<BigInt>,
        confirmed_at -> Nullable<BigInt>,
        first_contact_after_confirm_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    deflection_intents (intent_id) {
        intent_id -> Text,
        visitor_id -> Text,
        category -> Text,
        category_at -> Nullable<BigInt>,
        area -> Text,
        area_at -> Nullable<BigInt>,
        arm -> Nullable<Text>,
        started_at -> Nullable<BigInt>,
        suggestions_shown -> Bool,
        clicked_at -> Nullable<BigInt>,
        clicked_question_id -> Nullable<BigInt>,
        confirmed_at -> Nullable<BigInt>,
        confirmed_question_id -> Nullable<BigInt>,
        submitted_at -> Nullable<BigInt>,
        first_contact_after_start_at -> Nullable<BigInt>,
        first_contact_after_confirm_at -> Nullable<BigInt>,
        last_self_service_before_start_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    deflection_sessions (session_key) {
        session_key -> Text,
        visitor_id -> Text,
        category -> Text,
        category_at -> Nullable<BigInt>,
        area -> Text,
        area_at -> Nullable<BigInt>,
        started_at -> BigInt,
        helpful_yes -> Bool,
    }
}

diesel::table! {
    deflection_visitor_days (visitor_id, category, area, kind, day) {
        visitor_id -> Text,
        category -> Text,
        area -> Text,
        kind -> Text,
        day -> BigInt,
        previous_day -> Nullable<BigInt>,
    }
}

diesel::table! {
    deflection_rollups (day, category, area, metric, gap, gap2) {
        day -> BigInt,
        category -> Text,
        area -> Text,
        metric -> Text,
        gap -> BigInt,
        gap2 -> BigInt,
        n -> BigInt,
    }
}

diesel::table! {
    deflection_search_gaps (kind, category, area, day, query, searcher) {
        kind -> Text,
        category -> Text,
        area -> Text,
        day -> BigInt,
        query -> Text,
        searcher -> Text,
        by_server -> Bool,
        by_frontend -> Bool,
    }
}

diesel::table! {
    derived_state (name) {
        name -> Text,
        version -> Integer,
    }
}

diesel::table! {
    experiment_arms (intent_id) {
        intent_id -> Text,
        arm -> Text,
        assigned_at -> Timestamp,
    }
}

diesel::table! {
    import_map (source, kind, source_id) {
        source -> Text,
        kind -> Text,
        source_id -> Text,
        target_id -> BigInt,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> BigInt,
        user_id -> BigInt,
        kind -> Text,
        to_address -> Nullable<Text>,
        notification_id -> Nullable<BigInt>,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    email_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        purpose -> Text,
        token_hash -> Text,
        email -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    mail_preferences (user_id) {
        user_id -> BigInt,
        kinds -> Text,
        digest -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    digests_sent (user_id, period) {
        user_id -> BigInt,
        period -> Text,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        prefix -> Text,
        key_hash -> Text,
        scopes -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    rate_limit_buckets (bucket) {
        bucket -> Text,
        tokens -> Double,
        allowed -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> BigInt,
        url -> Text,
        description -> Text,
        events -> Text,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<Timestamp>,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        endpoint_id -> BigInt,
        message_id -> Text,
        event_type -> Text,
        subject -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        response_status -> Nullable<Integer>,
        duration_ms -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        attempted_at -> Timestamp,
        succeeded -> Bool,
        response_status -> Nullable<Integer>,
        duration_ms -> Integer,
        response_body -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    open311_services (category_id) {
        category_id -> BigInt,
        service_code -> Text,
    }
}

diesel::table! {
    escalations (id) {
        id -> BigInt,
        question_id -> BigInt,
        requested_by -> Nullable<BigInt>,
        service_code -> Text,
        address_string -> Nullable<Text>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        attributes -> Text,
        share_email -> Bool,
        status -> Text,
        service_request_id -> Nullable<Text>,
        token -> Nullable<Text>,
        status_notes -> Nullable<Text>,
        last_error -> Nullable<Text>,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        submitted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    escalation_requests (question_id) {
        question_id -> BigInt,
        address_string -> Nullable<Text>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        share_email -> Bool,
        auto_escalate -> Bool,
        due_at -> Timestamp,
    }
}

diesel::joinable!(open311_services -> categories (category_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(mail_outbox -> users (user_id));
diesel::joinable!(user_category_stats -> users (user_id));
diesel::joinable!(reputation_events -> users (user_id));
diesel::joinable!(badges -> users (user_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(questions -> users (author_id));
diesel::joinable!(questions -> categories (category_id));
diesel::joinable!(question_tags -> questions (question_id));
diesel::joinable!(question_tags -> tags (tag_id));
diesel::joinable!(answers -> questions (question_id));
diesel::joinable!(answers -> users (author_id));
diesel::joinable!(comments -> users (author_id));
diesel::joinable!(follows -> questions (question_id));
diesel::joinable!(revisions -> users (editor_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    user_roles,
    refresh_tokens,
    login_failures,
    categories,
    tags,
    questions,
    question_tags,
    answers,
    comments,
    revisions,
    votes,
    question_views,
    follows,
    notifications,
    search_outbox,
    reputation_events,
    user_category_stats,
    badges,
    settings,
    search_gaps,
    flags,
    close_votes,
    audit_log,
    deflection_events,
    deflection_pairs,
    deflection_intents,
    deflection_sessions,
    deflection_visitor_days,
    deflection_rollups,
    experiment_arms,
    import_map,
    mail_outbox,
    email_tokens,
    mail_preferences,
    digests_sent,
    api_keys,
    rate_limit_buckets,
    webhook_endpoints,
    webhook_deliveries,
    webhook_attempts,
    open311_services,
    escalations,
    escalation_requests,
);
