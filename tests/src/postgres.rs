//! A fresh PostgreSQL database per test, dropped afterwards.

use sea_orm::{ConnectionTrait, Database};

/// A database created for one test.
pub struct FreshDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl FreshDatabase {
    /// Creates `roster_e2e_<random>` on the server of `admin_url`. Fails (it
    /// never skips) when PostgreSQL cannot be reached.
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("roster_e2e_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(admin_url).await.map_err(|error| {
            anyhow::anyhow!("postgresql at {admin_url} is required for this test (scripts/test starts it): {error}")
        })?;
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
        admin.close().await?;
        let (base, _) = admin_url.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("admin url has no database part"))?;
        Ok(Self { admin_url: admin_url.to_owned(), url: format!("{base}/{name}"), name })
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
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
