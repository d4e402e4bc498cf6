//! [`FreshDatabase`]: an empty PostgreSQL database of its own, for tests and
//! tools that start the directory against a real server; dropped with
//! everything still connected to it when the value is dropped.

use roster_domain::DomainError;
use sea_orm::{ConnectionTrait, Database};

use crate::error::DATABASE;

/// A database created for one test (`roster_test_<random>`).
pub struct FreshDatabase {
    admin_url: String,
    name: String,
    /// `admin_url` with this database in place of the admin one.
    pub url: String,
}

impl FreshDatabase {
    /// Creates the database on the server of `admin_url`. `Unavailable`
    /// (never a skip) when PostgreSQL cannot be reached.
    pub async fn create(admin_url: &str) -> Result<Self, DomainError> {
        let name = format!("roster_test_{}", uuid::Uuid::new_v4().simple());
        let unavailable = |error: sea_orm::DbErr| {
            DomainError::unavailable(DATABASE, format!("PostgreSQL is required here (scripts/test starts it): {error}"))
        };
        let admin = Database::connect(admin_url).await.map_err(unavailable)?;
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.map_err(unavailable)?;
        admin.close().await.map_err(unavailable)?;
        let (base, _) = admin_url
            .rsplit_once('/')
            .ok_or_else(|| DomainError::invalid_field("admin_url", "has no database part"))?;
        Ok(Self { admin_url: admin_url.to_owned(), url: format!("{base}/{name}"), name })
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside a runtime: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}
