//! Passwords and their argon2id hashes (R9, R35).
//!
//! A [`Password`] never prints: its `Debug` is redacted and it has no
//! `Display`. Hashing and verification are CPU-heavy and run on the
//! [`HashingPool`], off the async runtime's worker threads, behind a bound so
//! that a login storm cannot starve everything else.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash as ParsedHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

use crate::error::{DomainError, FieldViolation};
use crate::hashing_threads::{HashingPriority, HashingThreads};

/// A plaintext password, NFKC-normalised. Never logged, traced or returned.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Shortest password accepted (PCI DSS v4 8.3.6).
    pub const MIN_CHARS: usize = 12;
    /// Longest password accepted, in bytes, compared without truncation.
    pub const MAX_BYTES: usize = 256;

    /// Parses a new password against the length rules.
    pub fn parse_new(field: &str, text: &str) -> Result<Self, FieldViolation> {
        let normalised: String = text.nfkc().collect();
        if normalised.chars().count() < Self::MIN_CHARS {
            return Err(FieldViolation::new(field, "must be at least 12 characters (password policy: min_length)"));
        }
        if normalised.len() > Self::MAX_BYTES {
            return Err(FieldViolation::new(field, "must be at most 256 bytes (password policy: max_length)"));
        }
        Ok(Self(SecretString::from(normalised)))
    }

    /// Wraps a password offered at login; no policy applies to what is
    /// checked, only to what is set.
    pub fn for_verification(text: &str) -> Self {
        Self(SecretString::from(text.nfkc().collect::<String>()))
    }

    /// A random temporary password (R10): 20 characters from an alphabet
    /// without look-alikes, about 115 bits.
    pub fn generate_temporary() -> Self {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
        let mut rng = rand::rng();
        let text: String = (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
        Self(SecretString::from(text))
    }

    /// The plaintext, for hashing or for the one response that shows a
    /// generated password.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Password([redacted])")
    }
}

/// An argon2id hash in PHC string form. Secret too: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Rebuilds a hash read from storage.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for storage only.
    pub fn as_phc(&self) -> &str {
        &self.0
    }

    /// The algorithm, version and cost parameters (`argon2id v=19
    /// m=19456,t=2,p=1`), without salt or digest, so safe to log and audit;
    /// `None` when the stored text is not a PHC string.
    pub fn cost_summary(&self) -> Option<String> {
        let parsed = ParsedHash::new(&self.0).ok()?;
        let version = parsed.version.map_or_else(|| "v=16".to_owned(), |version| format!("v={version}"));
        let params = Params::try_from(&parsed).ok()?;
        Some(format!(
            "{} {version} m={},t={},p={}",
            parsed.algorithm,
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        ))
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("PasswordHash([redacted])")
    }
}

/// Argon2id cost parameters; the defaults are OWASP's (m=19456 KiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

/// Hashes and verifies passwords with fixed argon2id parameters. Cheap to
/// clone. Its methods block: call them through [`HashingPool`].
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password, verified against when a login does not
    /// exist, so unknown logins cost as much as known ones (R39).
    dummy_hash: Arc<PasswordHash>,
}

impl PasswordHasher {
    pub fn new(settings: Argon2Settings) -> Result<Self, DomainError> {
        let params = Params::new(settings.memory_kib, settings.iterations, settings.parallelism, None)
            .map_err(|error| DomainError::internal("argon2 parameters", error.to_string()))?;
        let mut hasher = Self { params, dummy_hash: Arc::new(PasswordHash(String::new())) };
        hasher.dummy_hash = Arc::new(hasher.hash_blocking(&Password::generate_temporary())?);
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes with a fresh random salt. Blocks for tens of milliseconds.
    pub fn hash_blocking(&self, password: &Password) -> Result<PasswordHash, DomainError> {
        let failed =
            |error: argon2::password_hash::Error| DomainError::internal("hashing a password", error.to_string());
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(failed)?;
        let output_len = self.params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = self.run(&self.argon2(), password, salt_bytes, output_len).map_err(failed)?;
        let phc = ParsedHash {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(failed)?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(PasswordHash(phc.to_string()))
    }

    /// Verifies against a stored hash (its own parameters apply), or against
    /// the dummy hash when there is none, so that the time taken does not
    /// tell whether the login exists. Blocks.
    pub fn verify_blocking(&self, password: &Password, stored: Option<&PasswordHash>) -> bool {
        let (hash, is_real) = match stored {
            Some(hash) => (hash, true),
            None => (self.dummy_hash.as_ref(), false),
        };
        let Ok(parsed) = ParsedHash::new(hash.as_phc()) else {
            return false;
        };
        let matches = self.verify_parsed(password, &parsed).unwrap_or(false);
        matches && is_real
    }

    /// What argon2's `PasswordVerifier` does (the stored algorithm, version
    /// and parameters, an absent version read as argon2's default; the
    /// digests compared in constant time), on this thread's kept memory.
    fn verify_parsed(
        &self,
        password: &Password,
        parsed: &ParsedHash<'_>,
    ) -> Result<bool, argon2::password_hash::Error> {
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Ok(false);
        };
        let algorithm = Algorithm::try_from(parsed.algorithm)?;
        let version = parsed.version.map(Version::try_from).transpose()?.unwrap_or_default();
        let params = Params::try_from(parsed)?;
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
        let computed = self.run(&Argon2::new(algorithm, version, params), password, salt_bytes, expected.len())?;
        Ok(computed == expected)
    }

    /// One argon2 computation. On a thread that keeps its memory
    /// ([`keep_argon2_memory_on_this_thread`]) the blocks are reused from
    /// the previous one, up to this hasher's own cost; anywhere else, and
    /// for a stored hash costlier than that, they are allocated for the
    /// call, as argon2 itself does.
    fn run(
        &self,
        argon2: &Argon2<'_>,
        password: &Password,
        salt: &[u8],
        output_len: usize,
    ) -> Result<Output, argon2::password_hash::Error> {
        let blocks = argon2.params().block_count();
        let hash = |memory: &mut [Block]| {
            Output::init_with(output_len, |out| {
                Ok(argon2.hash_password_into_with_memory(password.expose().as_bytes(), salt, out, memory)?)
            })
        };
        if blocks <= self.params.block_count() {
            let kept = KEPT_MEMORY.with(|kept| {
                let mut kept = kept.try_borrow_mut().ok()?;
                let memory = kept.as_mut()?;
                if memory.len() < blocks {
                    memory.resize(blocks, Block::default());
                }
                Some(hash(&mut memory[..blocks]))
            });
            if let Some(result) = kept {
                return result;
            }
        }
        hash(&mut vec![Block::default(); blocks])
    }

    /// Whether `stored` is weaker than what this hasher makes (R35: such
    /// hashes are upgraded at the next successful login): not argon2id, an
    /// older argon2 version, or a memory, iteration or parallelism cost below
    /// the configured one. Stronger parameters are kept. Text that is not a
    /// readable argon2 PHC string needs a rehash too (it cannot be vouched
    /// for, and never verifies anyway). Cheap: parses, does not hash.
    pub fn needs_rehash(&self, stored: &PasswordHash) -> bool {
        let Ok(parsed) = ParsedHash::new(stored.as_phc()) else {
            return true;
        };
        if parsed.algorithm != argon2::ARGON2ID_IDENT {
            return true;
        }
        // An absent version is argon2's first one, 0x10.
        if parsed.version != Some(Version::V0x13 as u32) {
            return true;
        }
        let Ok(params) = Params::try_from(&parsed) else {
            return true;
        };
        params.m_cost() < self.params.m_cost()
            || params.t_cost() < self.params.t_cost()
            || params.p_cost() < self.params.p_cost()
    }
}

thread_local! {
    /// argon2's working memory, kept between computations on the threads
    /// that asked for it (the hashing pool's): `None` elsewhere.
    static KEPT_MEMORY: RefCell<Option<Vec<Block>>> = const { RefCell::new(None) };
}

/// Makes the calling thread keep argon2's working memory (the configured
/// memory cost, 19 MiB by default) from one computation to the next,
/// instead of allocating and freeing it each time. For the few long-lived
/// threads that do nothing but hash ([`HashingThreads`]): freed memory of
/// that size went back to the kernel, so each computation paid for page
/// faults and zeroing of every page (issue 6, scenario 2: about 2,000
/// faults per login; logins per second rose by a fifth without them). What
/// stays in the memory between computations is argon2's internal state,
/// which freed memory held as well until reused; the password itself is
/// never in it.
pub fn keep_argon2_memory_on_this_thread() {
    KEPT_MEMORY.with(|kept| {
        if let Ok(mut kept) = kept.try_borrow_mut() {
            kept.get_or_insert_with(Vec::new);
        }
    });
}

/// Whether the calling thread keeps argon2's memory, for tests.
#[cfg(test)]
pub(crate) fn keeps_argon2_memory() -> bool {
    KEPT_MEMORY.with(|kept| kept.borrow().is_some())
}

/// Runs password hashing on its own threads ([`HashingThreads`]), at most
/// `workers` at once, with at most `queue` more waiting; beyond that callers get
/// `RESOURCE_EXHAUSTED` at once instead of queueing without bound (R35).
///
/// Two sets of threads, one job on either at a time per worker: hashing
/// while at most one more login per worker waits (logins arriving no faster
/// than they are hashed) runs at normal priority, where a lowered one cost
/// a tenth of the login rate (issue 6, scenario 2: every database round trip
/// of a login preempted argon2 under `SCHED_IDLE`); hashing behind a deeper
/// queue (a login storm) runs at the configured lower priority, so that
/// serving threads preempt it (scenario 3). Two sets rather than one thread
/// changing its priority, because an unprivileged thread may lower its
/// priority but never raise it back.
#[derive(Debug, Clone)]
pub struct HashingPool {
    hasher: PasswordHasher,
    workers: usize,
    /// `workers + queue`: the permits of `admitted`.
    capacity: usize,
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    calm: Arc<HashingThreads>,
    /// `None` when the configured priority is normal: `calm` does it all.
    storm: Option<Arc<HashingThreads>>,
}

impl HashingPool {
    /// `workers` hashing threads at normal priority and, unless `priority`
    /// is normal, `workers` more at `priority` for a storm's backlog (see
    /// [`HashingPool`]), and `queue` more callers waiting. The threads
    /// allocate argon2's memory at their first job, so the storm's threads
    /// hold none until a storm.
    pub fn new(
        hasher: PasswordHasher,
        workers: usize,
        queue: usize,
        priority: HashingPriority,
    ) -> std::io::Result<Self> {
        let workers = workers.max(1);
        let storm = match priority {
            HashingPriority::Normal => None,
            lowered => Some(Arc::new(HashingThreads::start(workers, lowered)?)),
        };
        Ok(Self {
            hasher,
            workers,
            capacity: workers + queue,
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers + queue)),
            calm: Arc::new(HashingThreads::start(workers, HashingPriority::Normal)?),
            storm,
        })
    }

    /// The threads for a job about to run: the storm's when more than one
    /// caller per worker waits behind the ones running.
    fn threads_for_next_job(&self) -> &HashingThreads {
        let in_flight = self.capacity - self.admitted.available_permits();
        let running = self.workers - self.running.available_permits();
        let waiting = in_flight.saturating_sub(running);
        match &self.storm {
            Some(storm) if waiting > self.workers => storm,
            _ => &self.calm,
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, DomainError> {
        let _admitted = self.admitted.clone().try_acquire_owned().map_err(|_| DomainError::ResourceExhausted {
            reason: "PASSWORD_POOL_BUSY",
            message: "too many password checks in flight; retry later".to_owned(),
        })?;
        let _running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|error| DomainError::internal("hashing pool closed", error))?;
        let hasher = self.hasher.clone();
        self.threads_for_next_job()
            .run(move || work(&hasher))
            .await
            .ok_or_else(|| DomainError::internal("password hashing task", "the hashing job failed"))
    }

    pub async fn hash(&self, password: Password) -> Result<PasswordHash, DomainError> {
        self.run(move |hasher| hasher.hash_blocking(&password)).await?
    }

    pub async fn verify(&self, password: Password, stored: Option<PasswordHash>) -> Result<bool, DomainError> {
        self.run(move |hasher| hasher.verify_blocking(&password, stored.as_ref())).await
    }

    /// [`PasswordHasher::needs_rehash`]; cheap, so it runs in place.
    pub fn needs_rehash(&self, stored: &PasswordHash) -> bool {
        self.hasher.needs_rehash(stored)
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    fn cheap_hasher() -> PasswordHasher {
        PasswordHasher::new(Argon2Settings { memory_kib: 256, iterations: 1, parallelism: 1 }).unwrap()
    }

    #[test]
    fn r9_passwords_and_hashes_never_print() {
        let password = Password::parse_new("password", "correct horse battery").unwrap();
        let hash = cheap_hasher().hash_blocking(&password).unwrap();
        assert!(!format!("{password:?}").contains("horse"));
        assert!(!format!("{hash:?}").contains("argon2"));
    }

    #[test]
    fn r35_hashes_are_argon2id_and_verify() {
        let hasher = cheap_hasher();
        let password = Password::parse_new("password", "correct horse battery").unwrap();
        let hash = hasher.hash_blocking(&password).unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$"));
        assert!(hasher.verify_blocking(&Password::for_verification("correct horse battery"), Some(&hash)));
        assert!(!hasher.verify_blocking(&Password::for_verification("wrong horse battery"), Some(&hash)));
    }

    #[test]
    fn the_dummy_hash_never_matches() {
        let hasher = cheap_hasher();
        assert!(!hasher.verify_blocking(&Password::for_verification("anything at all"), None));
    }

    #[test]
    fn new_passwords_obey_the_length_rules() {
        assert!(Password::parse_new("password", "short").is_err());
        assert!(Password::parse_new("password", &"x".repeat(257)).is_err());
        assert_eq!(Password::parse_new("password", "twelve chars").unwrap().expose(), "twelve chars");
    }

    #[test]
    fn temporary_passwords_are_long_and_distinct() {
        let first = Password::generate_temporary();
        let second = Password::generate_temporary();
        assert_eq!(first.expose().len(), 20);
        assert_ne!(first.expose(), second.expose());
    }

    fn hash_with(algorithm: Algorithm, version: Version, memory_kib: u32, iterations: u32, lanes: u32) -> PasswordHash {
        let params = Params::new(memory_kib, iterations, lanes, None).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let hash = Argon2::new(algorithm, version, params).hash_password(b"correct horse battery", &salt).unwrap();
        PasswordHash(hash.to_string())
    }

    /// The hasher computes on its own (kept) memory; what it makes and what
    /// it accepts must be exactly argon2's, on a thread that keeps its
    /// memory and on one that does not, for hashes cheaper and costlier
    /// than its own cost, one after the other on the same memory.
    #[test]
    fn r35_hashing_on_kept_memory_agrees_with_argon2_both_ways() {
        let hasher = PasswordHasher::new(Argon2Settings { memory_kib: 256, iterations: 2, parallelism: 2 }).unwrap();
        let password = Password::for_verification("correct horse battery");
        let wrong = Password::for_verification("correct horse batterx");
        let check = |hasher: &PasswordHasher| {
            let own = hasher.hash_blocking(&password).unwrap();
            let parsed = ParsedHash::new(own.as_phc()).unwrap();
            assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
            assert!(Argon2::default().verify_password(b"correct horse batterx", &parsed).is_err());
            let (id, v13) = (Algorithm::Argon2id, Version::V0x13);
            let stored = [
                own.clone(),
                hash_with(id, v13, 64, 1, 1),  // less memory: a slice of the kept memory
                hash_with(id, v13, 512, 2, 2), // more: its own memory for the call
                hash_with(Algorithm::Argon2i, v13, 256, 2, 2), // another algorithm
                hash_with(Algorithm::Argon2d, Version::V0x10, 128, 3, 1), // another version
                own,
            ];
            for hash in &stored {
                assert!(hasher.verify_blocking(&password, Some(hash)), "{:?}", hash.cost_summary());
                assert!(!hasher.verify_blocking(&wrong, Some(hash)), "{:?}", hash.cost_summary());
            }
        };
        std::thread::scope(|scope| {
            scope.spawn(|| check(&hasher)).join().unwrap();
            scope
                .spawn(|| {
                    keep_argon2_memory_on_this_thread();
                    check(&hasher);
                    let kept = KEPT_MEMORY.with(|kept| kept.borrow().as_ref().map(Vec::len));
                    assert_eq!(kept, Some(256), "kept up to the hasher's own cost, never the costlier hash's");
                })
                .join()
                .unwrap();
        });
    }

    #[test]
    fn r35_hashes_weaker_than_the_configured_parameters_need_a_rehash() {
        let hasher = PasswordHasher::new(Argon2Settings { memory_kib: 256, iterations: 2, parallelism: 2 }).unwrap();
        let own = hasher.hash_blocking(&Password::for_verification("correct horse battery")).unwrap();
        assert!(!hasher.needs_rehash(&own), "its own hashes are current");
        let (id, v13) = (Algorithm::Argon2id, Version::V0x13);
        assert!(!hasher.needs_rehash(&hash_with(id, v13, 512, 3, 2)), "stronger parameters are kept");
        assert!(hasher.needs_rehash(&hash_with(id, v13, 128, 2, 2)), "less memory");
        assert!(hasher.needs_rehash(&hash_with(id, v13, 256, 1, 2)), "fewer iterations");
        assert!(hasher.needs_rehash(&hash_with(id, v13, 256, 2, 1)), "less parallelism");
        assert!(hasher.needs_rehash(&hash_with(Algorithm::Argon2i, v13, 256, 2, 2)), "argon2i");
        assert!(hasher.needs_rehash(&hash_with(Algorithm::Argon2d, v13, 256, 2, 2)), "argon2d");
        assert!(hasher.needs_rehash(&hash_with(id, Version::V0x10, 256, 2, 2)), "argon2 version 0x10");
        assert!(hasher.needs_rehash(&PasswordHash::from_stored("not a phc string".to_owned())));
        assert!(hasher.needs_rehash(&PasswordHash::from_stored(
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned()
        )));
    }

    #[test]
    fn r35_weaker_hashes_still_verify_with_their_own_parameters() {
        let hasher = cheap_hasher();
        let weak = hash_with(Algorithm::Argon2i, Version::V0x10, 64, 1, 1);
        assert!(hasher.verify_blocking(&Password::for_verification("correct horse battery"), Some(&weak)));
    }

    #[test]
    fn r9_cost_summaries_name_parameters_and_no_secret() {
        let hash = hash_with(Algorithm::Argon2id, Version::V0x13, 128, 3, 1);
        assert_eq!(hash.cost_summary().as_deref(), Some("argon2id v=19 m=128,t=3,p=1"));
        let salt_and_digest = hash.as_phc().rsplitn(3, '$').take(2).collect::<Vec<_>>();
        let summary = hash.cost_summary().unwrap();
        assert!(salt_and_digest.iter().all(|part| !summary.contains(part)));
        let old = hash_with(Algorithm::Argon2i, Version::V0x10, 64, 1, 1);
        assert_eq!(old.cost_summary().as_deref(), Some("argon2i v=16 m=64,t=1,p=1"));
        assert_eq!(PasswordHash::from_stored("garbage".to_owned()).cost_summary(), None);
    }

    #[tokio::test]
    async fn a_full_pool_refuses_at_once() {
        let pool = HashingPool::new(cheap_hasher(), 1, 0, HashingPriority::Normal).unwrap();
        let held = pool.admitted.clone().try_acquire_owned().unwrap();
        let error = pool.hash(Password::for_verification("whatever")).await.unwrap_err();
        assert_eq!(error.reason(), "PASSWORD_POOL_BUSY");
        drop(held);
        assert!(pool.hash(Password::for_verification("whatever")).await.is_ok());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn issue_6_hashing_behind_a_storm_backlog_runs_at_the_lower_priority_and_calm_hashing_does_not() {
        use crate::hashing_threads::current_policy;
        let pool = HashingPool::new(cheap_hasher(), 1, 4, HashingPriority::Idle).unwrap();
        assert_eq!(pool.run(|_| current_policy()).await.unwrap(), libc::SCHED_OTHER, "alone: calm");

        // One job holds the only worker while three callers queue behind it.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let holder = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(move |_| blocked.recv()).await }
        });
        while pool.running.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let mut queued = Vec::new();
        for position in 1..=3 {
            let pool_for_job = pool.clone();
            queued.push(tokio::spawn(async move { pool_for_job.run(|_| current_policy()).await.unwrap() }));
            while pool.admitted.available_permits() > pool.capacity - 1 - position {
                tokio::task::yield_now().await;
            }
        }
        release.send(()).unwrap();
        holder.await.unwrap().unwrap().unwrap();
        let mut policies = Vec::new();
        for job in queued {
            policies.push(job.await.unwrap());
        }
        // The first runs with two more waiting behind it (more than one per
        // worker), the others with one and none.
        assert_eq!(policies, [libc::SCHED_IDLE, libc::SCHED_OTHER, libc::SCHED_OTHER]);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_pool_at_normal_priority_has_no_storm_threads() {
        let pool = HashingPool::new(cheap_hasher(), 2, 8, HashingPriority::Normal).unwrap();
        assert!(pool.storm.is_none());
        assert_eq!(pool.run(|_| crate::hashing_threads::current_policy()).await.unwrap(), libc::SCHED_OTHER);
    }
}
