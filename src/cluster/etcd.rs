//! The etcd source of remote entries: one thread, one current-thread tokio runtime.
//!
//! # One connection's life (a "session")
//! ```text
//! connect ─► lease (reuse it while etcd still knows it, else grant) ─► put vteps/<me>
//!   ─► resync: read the prefix page by page at one revision R ─► Snapshot to the control thread
//!   ─► replay own deletes that failed while disconnected
//!   ─► watch the prefix from R+1, keep the lease alive, serve the control thread's requests
//! any error ─► connected = false, back off (100 ms doubling to 5 s), start over
//! ```
//! A stop revokes the lease, so a gateway that leaves cleanly vanishes from every other one at
//! once; one that dies vanishes when its lease expires (`lease_secs`).

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, Identity,
    PutOptions, TlsOptions, Txn, TxnOp, WatchOptions,
};

use super::schema::{self, KeyName, Schema};
use super::ClusterState;
use crate::config::{ClusterConfig, ClusterMode};
use crate::fdb::source::{Member, RemoteEntry, SourceEnd, SourceRequest, SourceUpdate};
use crate::fdb::FdbKey;
use crate::types::{MacAddr, Vni};

/// Keys read per request during a resync. etcd counts the rest of the range on every page, so
/// few large pages read a million keys several times faster than many small ones; the answer
/// (~100 bytes a key) needs a larger gRPC message limit than the default 4 MiB.
pub const RESYNC_PAGE: i64 = 50_000;
/// gRPC message limit for resync pages.
const RESYNC_MESSAGE_BYTES: usize = 256 << 20;
/// Puts per transaction (etcd's default `--max-txn-ops` is 128).
pub const PUTS_PER_TXN: usize = 128;
/// Own deletes remembered while etcd is unreachable, replayed on reconnect.
pub const MAX_PENDING_DELETES: usize = 1 << 20;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often the session looks at the control thread's requests and the stop flag.
const REQUEST_POLL: Duration = Duration::from_millis(2);

/// What the etcd thread needs to know about this gateway.
#[derive(Debug, Clone)]
pub struct EtcdSettings {
    pub cluster: ClusterConfig,
    pub member: String,
    pub vtep_ip: IpAddr,
    pub vtep_mac: Option<MacAddr>,
    pub vnis: Vec<Vni>,
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// The client's error with its whole chain of causes in one message (tonic's transport
    /// error says only "transport error"; why, e.g. an unknown certificate issuer, is below).
    #[error("etcd: {0}")]
    Client(String),
    #[error("{0}")]
    Session(String),
    #[error("cannot read {0}: {1}")]
    File(String, std::io::Error),
}

impl From<etcd_client::Error> for EtcdError {
    fn from(e: etcd_client::Error) -> Self {
        let mut message = chain_message(&e);
        if let Some(hint) = setting_to_check(&message) {
            message.push_str(" (");
            message.push_str(hint);
            message.push(')');
        }
        EtcdError::Client(message)
    }
}

/// Which of the operator's `[cluster]` settings an error from etcd points at, as the TLS
/// library and etcd word it.
fn setting_to_check(message: &str) -> Option<&'static str> {
    const HINTS: &[(&str, &str)] = &[
        (
            "UnknownIssuer",
            "the server's certificate is not signed by the CA in cluster.tls.ca",
        ),
        (
            "NotValidForName",
            "the server's certificate does not name this endpoint: check cluster.etcd or cluster.tls.domain",
        ),
        (
            "BadCertificate",
            "the server refused this gateway's client certificate: check cluster.tls.cert and cluster.tls.key",
        ),
        (
            "CertificateRequired",
            "the server requires a client certificate: set cluster.tls.cert and cluster.tls.key",
        ),
        (
            "invalid user ID or password",
            "check cluster.user and cluster.password",
        ),
        ("permission denied", "the user's role does not reach cluster.prefix"),
    ];
    HINTS
        .iter()
        .find(|(found, _)| message.contains(found))
        .map(|(_, hint)| *hint)
}

/// `e` and each of its causes, joined by ": ", leaving out a cause whose text the message
/// already holds (many errors print their source in their own message as well).
fn chain_message(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    message
}

/// Starts the etcd thread. It runs until `stop` is set, then revokes its lease and returns.
pub fn spawn(
    settings: EtcdSettings,
    end: SourceEnd,
    state: Arc<ClusterState>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("vxgate-etcd".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    state.set_detail(format!("cannot start the etcd runtime: {e}"));
                    return;
                }
            };
            let mut source = EtcdSource::new(settings, end, state, stop);
            rt.block_on(source.run());
        })
}

struct EtcdSource {
    s: EtcdSettings,
    schema: Schema,
    end: SourceEnd,
    state: Arc<ClusterState>,
    stop: Arc<AtomicBool>,
    lease: Option<i64>,
    pending_deletes: VecDeque<FdbKey>,
    /// One shared name per member: a million MACs from a hundred gateways hold a hundred
    /// strings, not a million.
    names: HashSet<Arc<str>>,
}

impl EtcdSource {
    fn new(
        s: EtcdSettings,
        end: SourceEnd,
        state: Arc<ClusterState>,
        stop: Arc<AtomicBool>,
    ) -> EtcdSource {
        EtcdSource {
            schema: Schema::new(&s.cluster.prefix),
            s,
            end,
            state,
            stop,
            lease: None,
            pending_deletes: VecDeque::new(),
            names: HashSet::new(),
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    async fn run(&mut self) {
        let mut backoff = BACKOFF_MIN;
        let mut client = None;
        while !self.stopping() {
            let started = Instant::now();
            match self.session(&mut client).await {
                Ok(()) => break,
                Err(e) => {
                    let e = self.with_identity_hint(e);
                    self.state.connected.store(false, Ordering::Relaxed);
                    ClusterState::inc(&self.state.errors);
                    self.state.set_detail(e.to_string());
                    tracing::warn!("cluster: {e}; retrying in {backoff:?}");
                    client = None;
                }
            }
            // A session that lasted is a fresh failure: start the backoff over.
            if started.elapsed() > BACKOFF_MAX {
                backoff = BACKOFF_MIN;
            }
            let until = Instant::now() + backoff;
            while Instant::now() < until && !self.stopping() {
                self.drain_offline();
                tokio::time::sleep(REQUEST_POLL.max(Duration::from_millis(10))).await;
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        self.state.connected.store(false, Ordering::Relaxed);
        // Leave cleanly: our keys vanish from every other gateway now, not after the TTL.
        if let (Some(mut c), Some(id)) = (client, self.lease) {
            let _ = tokio::time::timeout(Duration::from_secs(1), c.lease_revoke(id)).await;
        }
    }

    /// Requests that arrive while disconnected: deletes are kept for the next session, the
    /// rest is redone by its resync (every local MAC is published again, misses repeat).
    fn drain_offline(&mut self) {
        while let Ok(r) = self.end.requests.try_recv() {
            if let SourceRequest::WithdrawLocal { key } = r {
                if self.pending_deletes.len() < MAX_PENDING_DELETES {
                    self.pending_deletes.push_back(key);
                }
            }
        }
    }

    /// A TLS connection that fails without a client certificate configured: with TLS 1.3
    /// the server's refusal of the missing certificate often arrives as a closed connection,
    /// not as an alert that names it, so say what this gateway did not send.
    fn with_identity_hint(&self, e: EtcdError) -> EtcdError {
        let no_identity = self
            .s
            .cluster
            .tls
            .as_ref()
            .is_some_and(|t| t.cert.is_none());
        match e {
            EtcdError::Client(m)
                if no_identity
                    && setting_to_check(&m).is_none()
                    && (m.contains("transport error") || m.contains("connection closed")) =>
            {
                EtcdError::Client(format!(
                    "{m} (this gateway sends no client certificate: if etcd runs with \
                     --client-cert-auth, set cluster.tls.cert and cluster.tls.key)"
                ))
            }
            e => e,
        }
    }

    fn options(&self) -> Result<ConnectOptions, EtcdError> {
        let c = &self.s.cluster;
        let mut o = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(1), Duration::from_secs(1));
        if let (Some(u), Some(p)) = (&c.user, &c.password) {
            o = o.with_user(u.clone(), p.clone());
        }
        if let Some(t) = &c.tls {
            let read = |p: &std::path::Path| {
                std::fs::read(p).map_err(|e| EtcdError::File(p.display().to_string(), e))
            };
            let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(read(&t.ca)?));
            if let (Some(cert), Some(key)) = (&t.cert, &t.key) {
                tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            if let Some(d) = &t.domain {
                tls = tls.domain_name(d.clone());
            }
            o = o.with_tls(tls);
        }
        Ok(o)
    }

    async fn session(&mut self, slot: &mut Option<Client>) -> Result<(), EtcdError> {
        let opts = self.options()?;
        let mut client = Client::connect(&self.s.cluster.etcd, Some(opts)).await?;
        *slot = Some(client.clone());
        let ttl = i64::try_from(self.s.cluster.lease_secs).unwrap_or(10);
        let id = match self.lease {
            Some(id) => match client.lease_time_to_live(id, None).await {
                Ok(r) if r.ttl() > 0 => id,
                _ => client.lease_grant(ttl, None).await?.id(),
            },
            None => client.lease_grant(ttl, None).await?.id(),
        };
        self.lease = Some(id);
        self.state.lease_id.store(id, Ordering::Relaxed);
        let (mut keeper, mut alive) = client.lease_keep_alive(id).await?;

        let reg = schema::vtep_value(
            &self.s.member,
            self.s.vtep_ip,
            self.s.vtep_mac,
            &self.s.vnis,
        );
        client
            .put(
                self.schema.vtep_key(&self.s.member),
                reg,
                Some(PutOptions::new().with_lease(id)),
            )
            .await?;
        ClusterState::inc(&self.state.puts);

        let revision = self.resync(&mut client).await?;
        while let Some(key) = self.pending_deletes.pop_front() {
            self.delete_own(&mut client, key).await?;
        }
        let mut watch = client
            .watch(
                self.schema.root(),
                Some(
                    WatchOptions::new()
                        .with_prefix()
                        .with_start_revision(revision + 1),
                ),
            )
            .await?;
        self.state.connected.store(true, Ordering::Relaxed);
        self.state.set_detail(format!(
            "connected, lease {id:x}, watching from revision {}",
            revision + 1
        ));
        tracing::info!("cluster: connected as {} (lease {id:x})", self.s.member);

        let mut keep = tokio::time::interval(Duration::from_millis(
            (self.s.cluster.lease_secs * 1000 / 3).max(300),
        ));
        let mut poll = tokio::time::interval(REQUEST_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = keep.tick() => keeper.keep_alive().await?,
                m = alive.message() => match m? {
                    Some(r) if r.ttl() > 0 => {}
                    _ => {
                        self.lease = None;
                        return Err(EtcdError::Session("the lease expired".into()));
                    }
                },
                m = watch.message() => match m? {
                    Some(resp) => {
                        if resp.canceled() {
                            return Err(EtcdError::Session(format!(
                                "watch cancelled ({}), compacted at {}",
                                resp.cancel_reason(),
                                resp.compact_revision()
                            )));
                        }
                        for ev in resp.events() {
                            ClusterState::inc(&self.state.watch_events);
                            let Some(kv) = ev.kv() else { continue };
                            let update = match ev.event_type() {
                                EventType::Put => self.parse_put(kv.key(), kv.value()),
                                EventType::Delete => self.parse_delete(kv.key()),
                            };
                            if let Some(u) = update {
                                let _ = self.end.updates.send(u);
                            }
                        }
                    }
                    None => return Err(EtcdError::Session("the watch stream ended".into())),
                },
                _ = poll.tick() => {
                    if self.stopping() {
                        return Ok(());
                    }
                    self.serve(&mut client, id).await?;
                }
            }
        }
    }

    /// Reads the fleet's state at one revision and hands it over as a snapshot; returns the
    /// revision, for the watch to start right after it.
    async fn resync(&mut self, client: &mut Client) -> Result<i64, EtcdError> {
        let t0 = Instant::now();
        let on_demand = self.s.cluster.mode == ClusterMode::OnDemand;
        // On demand holds only what it looked up: registrations are all it reads.
        let from = if on_demand {
            self.schema.vteps()
        } else {
            self.schema.root()
        };
        let end = schema::prefix_end(&from);
        let mut members: Vec<Member> = Vec::new();
        let mut entries: Vec<RemoteEntry> = Vec::new();
        let mut key = from.into_bytes();
        let mut revision = 0;
        let mut read = 0u64;
        let mut kv = client
            .kv_client()
            .max_decoding_message_size(RESYNC_MESSAGE_BYTES);
        loop {
            let mut o = GetOptions::new()
                .with_range(end.clone())
                .with_limit(RESYNC_PAGE);
            if revision > 0 {
                o = o.with_revision(revision);
            }
            let resp = kv.get(key.clone(), Some(o)).await?;
            if revision == 0 {
                revision = resp.header().map_or(0, |h| h.revision());
            }
            for kv in resp.kvs() {
                read += 1;
                match self.parse_put(kv.key(), kv.value()) {
                    Some(SourceUpdate::MemberUp(m)) => members.push(m),
                    Some(SourceUpdate::Upsert(e)) => entries.push(e),
                    _ => {}
                }
            }
            match resp.kvs().last() {
                Some(last) if resp.more() => {
                    key = last.key().to_vec();
                    key.push(0);
                }
                _ => break,
            }
        }
        let _ = self.end.updates.send(SourceUpdate::Snapshot {
            members,
            entries,
            complete: !on_demand,
        });
        let s = &self.state;
        ClusterState::inc(&s.resyncs);
        s.last_resync_keys.store(read, Ordering::Relaxed);
        s.last_resync_ms.store(
            u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        s.last_resync_unix.store(unix, Ordering::Relaxed);
        Ok(revision)
    }

    fn intern(&mut self, name: Arc<str>) -> Arc<str> {
        if let Some(k) = self.names.get(&name) {
            return k.clone();
        }
        self.names.insert(name.clone());
        name
    }

    fn parse_put(&mut self, key: &[u8], value: &[u8]) -> Option<SourceUpdate> {
        let u = match self.schema.parse_key(key) {
            Some(KeyName::Vtep(name)) => {
                schema::parse_member(&name, value).map(SourceUpdate::MemberUp)
            }
            Some(KeyName::Mac(k)) => schema::parse_mac(k, value).map(|mut e| {
                e.origin = self.intern(e.origin);
                SourceUpdate::Upsert(e)
            }),
            None => None,
        };
        if u.is_none() {
            ClusterState::inc(&self.state.invalid_keys);
        }
        u
    }

    fn parse_delete(&self, key: &[u8]) -> Option<SourceUpdate> {
        match self.schema.parse_key(key)? {
            KeyName::Vtep(name) => Some(SourceUpdate::MemberDown {
                name: Arc::from(name.as_str()),
            }),
            KeyName::Mac(key) => Some(SourceUpdate::Withdraw { key }),
        }
    }

    /// Serves every request the control thread queued. Publications go out in transactions
    /// of up to [`PUTS_PER_TXN`] puts (one round trip each, not one per MAC), in order with the
    /// deletes and lookups around them.
    async fn serve(&mut self, client: &mut Client, lease: i64) -> Result<(), EtcdError> {
        let mut puts: Vec<TxnOp> = Vec::new();
        while let Ok(r) = self.end.requests.try_recv() {
            match r {
                SourceRequest::PublishLocal { key, ips } => {
                    let v = schema::mac_value(self.s.vtep_ip, &self.s.member, &ips);
                    let o = PutOptions::new().with_lease(lease);
                    puts.push(TxnOp::put(self.schema.mac_key(&key), v, Some(o)));
                    if puts.len() >= PUTS_PER_TXN {
                        self.flush_puts(client, &mut puts).await?;
                    }
                }
                SourceRequest::WithdrawLocal { key } => {
                    self.flush_puts(client, &mut puts).await?;
                    if let Err(e) = self.delete_own(client, key).await {
                        self.pending_deletes.push_back(key);
                        return Err(e);
                    }
                }
                SourceRequest::Lookup { key } => {
                    self.flush_puts(client, &mut puts).await?;
                    ClusterState::inc(&self.state.lookups);
                    let resp = client.get(self.schema.mac_key(&key), None).await?;
                    let found = resp
                        .kvs()
                        .first()
                        .and_then(|kv| schema::parse_mac(key, kv.value()));
                    let u = match found {
                        Some(e) => SourceUpdate::Upsert(e),
                        None => SourceUpdate::NotFound { key },
                    };
                    let _ = self.end.updates.send(u);
                }
            }
        }
        self.flush_puts(client, &mut puts).await
    }

    /// Sends the batched puts as one transaction. A failure ends the session; its successor's
    /// resync publishes every local MAC again.
    async fn flush_puts(
        &self,
        client: &mut Client,
        puts: &mut Vec<TxnOp>,
    ) -> Result<(), EtcdError> {
        if puts.is_empty() {
            return Ok(());
        }
        let n = puts.len() as u64;
        client
            .txn(Txn::new().and_then(std::mem::take(puts)))
            .await?;
        self.state.puts.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Deletes a MAC key only while it is still under our lease: a host that moved on is
    /// another gateway's key now, and never ours to delete.
    async fn delete_own(&mut self, client: &mut Client, key: FdbKey) -> Result<(), EtcdError> {
        let Some(lease) = self.lease else {
            return Ok(());
        };
        let k = self.schema.mac_key(&key);
        let txn = Txn::new()
            .when(vec![Compare::lease(k.clone(), CompareOp::Equal, lease)])
            .and_then(vec![TxnOp::delete(k, None)]);
        if client.txn(txn).await?.succeeded() {
            ClusterState::inc(&self.state.deletes);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::chain_message;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn every_cause_once() {
        let e = Layer(
            "transport error",
            Some(Box::new(Layer(
                "error trying to connect: invalid peer certificate: UnknownIssuer",
                Some(Box::new(Layer(
                    "invalid peer certificate: UnknownIssuer",
                    None,
                ))),
            ))),
        );
        assert_eq!(
            chain_message(&e),
            "transport error: error trying to connect: invalid peer certificate: UnknownIssuer"
        );
    }
}
