//! Runs the storage conformance suite against SQLite and PostgreSQL
//! (`ROSTER_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).
//! Each test gets a database of its own.

mod common;
mod startup;
mod suite;

/// One test per suite function and backend.
macro_rules! conformance_suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::common::backends::run_on_sqlite(crate::suite::$test).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::common::backends::run_on_postgres(crate::suite::$test).await;
                }
            )*
        }
    };
}

conformance_suite!(
    r18_invite_user_writes_the_user_the_token_digest_the_mail_and_the_audit_event,
    r18_a_taken_email_leaves_no_token_and_no_mail,
    r18_a_token_is_spent_once_and_sets_the_password,
    outbox_claims_are_exclusive_until_the_lease_ends,
    sign_up_creates_account_owner_groups_and_one_audit_event,
    sign_up_seeds_the_catalog_group_permissions_and_assignable_lists,
    duplicate_slug_is_already_exists_on_field_slug,
    failed_sign_up_leaves_no_partial_rows,
    find_account_and_find_user_answer_none_for_strangers,
    r12_login_names_and_emails_are_unique_per_account_after_normalisation,
    r1_the_schema_refuses_deleting_the_owner,
    r1_the_schema_refuses_an_owner_from_another_account,
    r1_ownership_can_move_to_a_user_of_the_same_account,
    find_login_candidate_uses_the_normalised_login,
    record_login_success_activates_an_invited_user,
    record_login_success_audits_the_request_and_touches_only_the_login_columns,
    record_login_failure_only_writes_an_audit_row,
    r39_reservations_count_and_lock_at_the_tenth,
    r39_an_expired_lock_starts_the_count_again,
    r39_a_successful_login_resets_the_count_and_the_lock,
    r39_reserving_for_a_missing_user_is_not_found,
    r39_fifty_concurrent_reservations_allow_exactly_ten,
    r39_a_success_in_flight_lets_waiting_attempts_run,
    bootstrap_platform_creates_once,
    bootstrap_platform_is_safe_when_replicas_race,
    platform_operator_is_a_login_candidate,
    ping_answers_while_the_database_is_up,
    ping_is_unavailable_once_the_pool_is_closed,
    migrations_are_idempotent_and_reversible,
    connection_settings_suit_the_backend,
    r7_create_user_stores_the_profile_and_audits_it,
    r12_create_user_refuses_a_taken_login_or_email_naming_the_field,
    create_user_refuses_groups_stores_and_permissions_it_cannot_find,
    r14_block_and_unblock_restore_the_previous_status,
    r9_set_password_never_writes_the_hash_into_the_audit_log,
    update_user_audits_before_and_after_of_changed_fields_only,
    r8_delete_user_removes_grants_and_keeps_the_audit_trail,
    r28_assign_and_unassign_are_idempotent,
    list_users_pages_by_id_without_gaps_or_duplicates,
    list_users_filters_by_status_group_store_and_text,
    list_users_filtered_pages_list_each_member_once,
    r25_groups_are_found_by_current_and_former_names,
    r23_list_groups_counts_direct_and_total_members,
    r21_a_parent_that_would_close_a_cycle_is_refused,
    r21_a_group_in_use_is_not_deleted,
    r32_groups_keep_their_permissions_and_assignable_groups,
    r27_stores_are_created_listed_in_pages_and_updated,
    deleting_a_store_removes_its_assignments_and_overrides,
    r20_register_permissions_adds_entries_and_rewords_descriptions,
    r20_redefining_a_permission_writes_nothing,
    access_snapshot_reads_the_catalog_the_tree_and_the_anonymous_group,
    user_grants_read_the_owner_flag_assignments_and_overrides,
    principal_facts_read_grants_the_blocked_flag_data_filters_and_access_version,
    all_user_access_answers_what_user_grants_answers_for_every_user,
    access_version_moves_with_every_access_change_and_never_with_reads,
    r44_audit_events_list_newest_first_with_filters_and_pages,
    r43_record_denied_writes_a_denied_event,
    r44_the_audit_log_refuses_updates_and_deletes,
    r43_a_refused_change_writes_no_audit_event,
    r43_a_change_whose_audit_event_fails_is_rolled_back,
    r3_transfer_ownership_moves_the_owner_and_audits_it,
    r3_transfer_refuses_a_stale_owner_and_an_inactive_new_owner,
    r1_concurrent_transfers_leave_exactly_one_owner,
    r30_update_account_audits_changed_fields,
    r8_a_delete_racing_an_assignment_leaves_no_orphan,
    r12_concurrent_user_creations_all_commit_and_a_login_is_taken_once,
    r21_a_group_deletion_racing_user_creations_leaves_no_member_behind,
    list_account_ids_lists_every_account_in_id_order,
    r35_upgrade_password_hash_replaces_only_the_verified_hash,
    r35_a_password_change_racing_an_upgrade_always_wins,
    r43_session_events_are_audited_on_the_session,
    r43_session_events_of_one_call_commit_together,
);

/// Backend-specific: PostgreSQL pushes access changes, SQLite does not.
mod access_notifications {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_pushes_no_access_changes() {
        crate::common::backends::run_on_sqlite(crate::suite::sqlite_pushes_no_access_changes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r38_a_change_through_another_replica_is_heard_within_a_second() {
        crate::common::backends::run_on_postgres(
            crate::suite::r38_a_change_through_another_replica_is_heard_within_a_second,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_own_write_is_awaited_from_its_start_until_its_notification() {
        crate::common::backends::run_on_postgres(
            crate::suite::an_own_write_is_awaited_from_its_start_until_its_notification,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_version_bump_by_hand_and_a_catalog_write_are_heard() {
        crate::common::backends::run_on_postgres(crate::suite::a_version_bump_by_hand_and_a_catalog_write_are_heard)
            .await;
    }
}
