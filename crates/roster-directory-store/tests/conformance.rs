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
    record_login_failure_only_writes_an_audit_row,
    bootstrap_platform_creates_once,
    bootstrap_platform_is_safe_when_replicas_race,
    platform_operator_is_a_login_candidate,
    ping_answers_while_the_database_is_up,
    ping_is_unavailable_once_the_pool_is_closed,
    migrations_are_idempotent_and_reversible,
    connection_settings_suit_the_backend,
);
